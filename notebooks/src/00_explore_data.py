# %% [markdown]
# # 00 · The data: what the teacher and LRINet see
#
# SignWorld is this project's synthetic CSLR dataset (see docs/DESIGN.md). Glosses differ in
# location and movement (coarse, visible at any resolution) and in handshape (finger strokes a
# few pixels wide). Below: the splits, the gloss table, one sentence at the teacher's resolution
# and at LRINet's (the profile's sizes, stated below the config), and where each gloss is
# signed.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # build the ipywidgets browser (needs a live kernel)
split: str = "train"  # the split to look at
sentence: str = ""  # a video id; "" means the split's first
frames_shown: int = 6  # frames in the static strip
sizes: list[int] = []  # view sizes in px; [] means the profile's: teacher, then LRINet's

# %%
from IPython.display import Markdown, display

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.ExploreConfig.build(**study.cell_parameters(study.ExploreConfig, globals()))
study.ensure_data(cfg.data, cfg.plan.data_profile, cfg.plan.data_seed)
cfg.save()
display(Markdown(study.views_text(cfg)))
cfg.table()

# %% [markdown]
# ## Splits and glosses
# The handshape-blind floor is the WER of an oracle that sees everything but the handshape: a
# model that cannot resolve fingers cannot beat it.

# %%
tables = study.dataset_tables(cfg.data)
display(tables["splits"])
tables["glosses"]

# %% [markdown]
# ## One sentence at several resolutions
# The same centre crop, resized as `make_views` does for each network (pixels enlarged).

# %%
s = study.load_sentence(cfg.data, cfg.split, cfg.sentence, tuple(cfg.sizes))
n_frames = len(s.views[cfg.sizes[0]])
plots.resolution_strip(
    s.views, plots.spread(n_frames, cfg.frames_shown), f"{s.id} ({s.signer}): {' '.join(s.glosses)}"
)

# %%
plots.gloss_timeline(
    study.gloss_timeline(cfg.data, cfg.split, s.id), n_frames, f"{s.id}: gloss timeline"
)

# %% [markdown]
# ## Browser (live kernel only)
# Pick a sentence, scrub or play its frames, and compare the teacher's view with LRINet's at
# any size (4 px up to the teacher's), enlarged with the pixels kept, over the gloss timeline.
# The static report shows the strip and the timeline above instead.

# %%
if cfg.interactive:
    display(study.browser(cfg.data, cfg.split, min(cfg.sizes), cfg.plan.preset, sentence=s.id))
