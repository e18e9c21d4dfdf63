# %% [markdown]
# # 04 · What the teacher and LRINet look at
#
# Captum on test sentences: IntegratedGradients (or Saliency) on the input frames gives the
# attribution per frame; LayerGradCam on the frame-level map (the trunk's output) gives where in
# each frame. The target is the whole reference under CTC (the negative CTC loss), or the log
# of the probability mass of one gloss. Teacher and LRINet + CRKD side by side, and how similar
# their Grad-CAM maps are (after upsampling to a common size).

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # the attribution explorer (needs a live kernel)
epochs: int = 0  # which LRINet run (02) to explain; 0 means the profile's
seeds: list[int] = []  # the first seed's runs are explained; [] means the profile's
teacher_epochs: int = 0  # which teacher run (01); 0 means the profile's
sentences: list[str] = []  # test video ids; [] means the first n_sentences
n_sentences: int = 0  # 0 means the profile's
target: str = "ctc"  # ctc (whole reference, -CTC loss) | gloss (log-prob mass of `gloss`)
gloss: str = ""  # for target gloss; "" means each sentence's first gloss
method: str = "ig"  # ig (IntegratedGradients) | saliency
ig_steps: int = 0  # IntegratedGradients steps; 0 means the profile's
overlay_frames: int = 4  # frames with Grad-CAM overlays per sentence

# %%
import pandas as pd
from IPython.display import Markdown, display

from crkd_core import study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.AttributionConfig.build(**study.cell_parameters(study.AttributionConfig, globals()))
cfg.save()
cfg.table()

# %%
results = study.attribute_sentences(cfg)
similarity = pd.DataFrame([r.to_dict() for r in results])
cfg.write_result("attribution", similarity.to_dict("records"))
similarity

# %% [markdown]
# ## Per sentence: attribution over time, then Grad-CAM overlays
# Overlays show the frames with the most attribution; LRINet's smaller frames are enlarged.

# %%
display(Markdown(study.views_text(cfg)))
for fig in study.attribution_figures(cfg, results):
    display(fig)

# %% [markdown]
# ## Explorer (live kernel only)
# Pick a test sentence and a target (the whole reference, or one of its glosses) and a method:
# captum recomputes both models' attribution per frame and their Grad-CAM overlays.

# %%
study.explorer(cfg) if cfg.interactive else None
