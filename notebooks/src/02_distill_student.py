# %% [markdown]
# # 02 · Distil LRINet
#
# LRINet sees the same crop as the teacher at the profile's `student_size`. With CRKD it
# learns from CTC plus its frozen teacher: feature KD on its frame map at the teacher's scale
# (MSE) and logit KD on the per-frame posteriors (KL at temperature T). Without KD it learns
# from CTC alone. With recovered maps (ResKD) its frame map is smaller and upsampled in the
# loss. The design of this study, drawn from its profile, is stated below the config.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # live learning curves while training
epochs: int = 0  # LRINet epochs; 0 means the profile's
seeds: list[int] = []  # [] means the profile's; seed s learns from teacher s, else the first
teacher_epochs: int = 0  # which teacher run (01) to use; 0 means the profile's
student_size: int = 0  # LRINet input size in px; 0 means the profile's (32: half the teacher's)
jobs: int = 1  # runs trained at once as parallel processes (no live curves when > 1)
confusions: int = 15  # how many confused gloss pairs to show

# %%
from IPython.display import Markdown, display

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.DistillConfig.build(**study.cell_parameters(study.DistillConfig, globals()))
cfg.save()
display(Markdown(study.distill_text(cfg)))
cfg.table()

# %% [markdown]
# ## Training: every teacher's CRKD, no-KD and recover students

# %%
live = plots.LiveCurves("LRINet: learning curves (live)") if cfg.interactive else None
runs = study.train_students(cfg, on_epoch=live)

# %%
plots.learning_curves(
    {name: study.read_log(run) for name, run in runs.items()},
    "LRINet: learning curves of every headline student",
)

# %% [markdown]
# ## Did they converge?
# Each student stops at its plateau (the rule above) or at the cap. A run whose best dev epoch
# is its last was still improving: it is marked NOT CONVERGED, here and on the index.

# %%
headline_runs = study.headline_runs(cfg)
cfg.write_result("runs", headline_runs)
study.runs_table(headline_runs)

# %% [markdown]
# ## Word error rate

# %%
teachers = {f"Teacher seed {cfg.teacher_seed(s)}": cfg.teacher_run(s) for s in cfg.seeds}
wer = study.wer_table({**teachers, **runs}, cfg.data)
cfg.write_result("wer", wer.to_dict("records"))
wer

# %% [markdown]
# ## Headline: teacher vs LRINet
# Test WER (mean ± std over teachers: one student per arm per teacher), each student arm's gap
# to its own teacher with the hierarchical 95 % interval, GMACs per frame (and their ratio to
# the teacher's), parameters, and frames per second of batch-1 inference, measured side by side
# on this machine.

# %%
headline = study.headline(cfg)
cfg.write_result("headline", headline)
study.headline_frame(headline)

# %% [markdown]
# ## Answers, with intervals that hold every source of noise
# A hierarchical bootstrap (10,000 resamples) draws the teachers, then each drawn teacher's
# students, then the test sentences, and recomputes the difference A - B in WER points: its
# 95 % interval and p-value ("p < 1/R" when no resample crossed zero). An interval that holds
# zero is a tie. A no-KD student counts under the teacher its seed is paired with.

# %%
answers = study.distill_answers(cfg)
cfg.write_result("answers", answers)
study.answers_table(answers)

# %% [markdown]
# ## Most confused glosses (test)
# Red pairs share location and movement and differ only in handshape: what low resolution loses.

# %%
seed = cfg.seeds[0]
plots.confusion_bars(
    study.confusions(cfg.student_run("crkd", seed), cfg.data, "test", cfg.confusions),
    "LRINet + CRKD: most confused glosses",
)

# %%
plots.confusion_bars(
    study.confusions(cfg.student_run("nokd", seed), cfg.data, "test", cfg.confusions),
    "LRINet without KD: most confused glosses",
)
