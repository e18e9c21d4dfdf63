# %% [markdown]
# # 02 · Distil LRINet
#
# LRINet sees the same crop at the profile's `student_size`: 32 px in the default study (half
# the teacher's 64 px, the paper's ratio), 16 px in smoke. With CRKD it learns from CTC plus
# the frozen teacher: feature KD on its frame map at the teacher's scale (MSE) and logit KD on
# the per-frame posteriors (KL at temperature T). Without KD it learns from CTC alone. Both
# learning curves share the same axes.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # live learning curves while training
epochs: int = 0  # LRINet epochs; 0 means the profile's
seeds: list[int] = []  # [] means the profile's; taught by teacher seed s, else the first
teacher_epochs: int = 0  # which teacher run (01) to use; 0 means the profile's
student_size: int = 0  # LRINet input size in px; 0 means the profile's (32: half the teacher's)
jobs: int = 1  # runs trained at once as parallel processes (no live curves when > 1)
confusions: int = 15  # how many confused gloss pairs to show

# %%
import pandas as pd

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.DistillConfig.build(**study.cell_parameters(study.DistillConfig, globals()))
cfg.save()
cfg.table()

# %% [markdown]
# ## Training: with and without KD

# %%
live = plots.LiveCurves("LRINet: learning curves (live)") if cfg.interactive else None
runs = study.train_students(cfg, on_epoch=live)

# %%
plots.learning_curves(
    {name: study.read_log(run) for name, run in runs.items()},
    "LRINet with CRKD and without KD: learning curves",
)

# %% [markdown]
# ## Word error rate

# %%
teachers = {f"Teacher seed {cfg.teacher_seed(s)}": cfg.teacher_run(s) for s in cfg.seeds}
wer = study.wer_table({**teachers, **runs}, cfg.data)
cfg.write_result("wer", wer.to_dict("records"))
wer

# %% [markdown]
# ## Headline: teacher vs LRINet
# Test WER (mean ± std over seeds), compute per frame, parameters, and frames per second of
# batch-1 inference, measured side by side on this machine.

# %%
headline = study.headline(cfg)
cfg.write_result("headline", headline)
pd.DataFrame(headline).round(3)

# %% [markdown]
# ## Answers, with their intervals
# Paired bootstrap over the test sentences (10,000 resamples), each system's seeds pooled: the
# difference A - B in WER points, its 95 % interval and p-value. An interval that holds zero is a
# tie. Against the teacher, the question is whether LRINet is within 1 point of it.

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
