# %% [markdown]
# # 01 · Train the teacher
#
# The high-resolution teacher (ResBlockT trunk, temporal convolutions and a BiLSTM) trained with
# CTC, plus VAC's visual CTC on the convolutions before the BiLSTM (`ctc_visual`, training
# only). Each teacher is frozen afterwards and teaches its own LRINet students in 02. A complete
# run is reused; a partial one is resumed. Its input size, the seeds and the stopping rule of
# this study are stated below the config.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # live learning curves while training
epochs: int = 0  # teacher epochs; 0 means the profile's
seeds: list[int] = []  # one teacher per seed; [] means the profile's
confusions: int = 15  # how many confused gloss pairs to show
threads: int = 0  # torch threads of the training; 0 means torch's default

# %%
from IPython.display import Markdown, display

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.TeacherConfig.build(**study.cell_parameters(study.TeacherConfig, globals()))
study.ensure_data(cfg.data, cfg.plan.data_profile, cfg.plan.data_seed)
cfg.save()
display(Markdown(study.teacher_text(cfg)))
cfg.table()

# %% [markdown]
# ## Training

# %%
live = plots.LiveCurves("Teacher: learning curves (live)") if cfg.interactive else None
runs = study.train_teachers(cfg, on_epoch=live)

# %%
plots.learning_curves(
    {name: study.read_log(run) for name, run in runs.items()}, "Teachers: learning curves"
)

# %% [markdown]
# ## Did they plateau?
# A teacher trains for at most the profile's epochs (a cosine schedule over them) and stops
# once `teacher_patience` epochs in a row bring no dev WER at least 0.5 points below the best,
# but never before `teacher_min_epochs`: a SignWorld teacher can sit for several epochs on the
# handshape-blind plateau before it breaks through. A run whose best dev epoch is its last is
# not converged.

# %%
study.plateau_table(runs, cfg.plan.teacher_patience, cfg.plan.teacher_min_epochs)

# %% [markdown]
# ## Word error rate
# Greedy decoding of the best checkpoint by dev WER; S, D, I are substitutions, deletions and
# insertions, N the reference glosses.

# %%
wer = study.wer_table(runs, cfg.data)
cfg.write_result("wer", wer.to_dict("records"))
wer

# %% [markdown]
# ## Most confused glosses (test)
# Red pairs share location and movement and differ only in handshape.

# %%
confused = study.confusions(cfg.teacher_run(cfg.seeds[0]), cfg.data, "test", cfg.confusions)
plots.confusion_bars(confused, "Teacher: most confused glosses on test")
