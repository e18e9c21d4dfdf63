# %% [markdown]
# # 03 · Resolution and KD ablation
#
# The headline's arms (02's runs, reused) and the profile's grid over LRINet's input size and
# the KD setting: none, feature KD at the teacher's scale (CRKD), feature KD with a smaller map
# upsampled in the loss (ResKD-style "recover"), logit KD, and both (the `ablation` profile
# holds the rows beyond the headline). Each point is an LRINet run from a typed
# `StudentRunConfig` (what `crkd distill` would make), trained in a worker process of its own
# (`python -m crkd_core.study.worker`, `jobs` at a time, sharing the CPUs); `crkd study --jobs
# 2` trains them earlier, in the study's queue of KD runs. Complete points are reused, partial
# ones resumed, so the sweep can run in parts (`shard`) and be resumed.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root (PHOENIX-2014 layout); relative to the repo
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # live learning curves of the grid points while they train
epochs: int = 0  # epochs per grid point; 0 means the profile's
seeds: list[int] = []  # [] means the profile's
teacher_epochs: int = 0  # which teacher run (01) to use; 0 means the profile's
sizes: list[int] = []  # with settings: their product replaces the profile's grid
settings: list[str] = []  # none|feature-scale|feature-recover|logit|both
jobs: int = 1  # grid points run as parallel processes
shard: str = "1/1"  # run part i of n of the grid; the table shows every complete point
run: bool = True  # False: only collect the complete points
kd_weights: list[list[float]] = []  # [[alpha, beta], ...] to sweep; [] means the profile's
sweep_seeds: list[int] = []  # seeds of the sweep; [] means the first seed

# %%
from IPython.display import Markdown

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.AblationConfig.build(**study.cell_parameters(study.AblationConfig, globals()))
cfg.save()
cfg.table()

# %% [markdown]
# ## Running the grid

# %%
with plots.following(lambda: study.grid_logs(cfg), "Grid points (live)", cfg.interactive):
    statuses = study.run_grid(cfg)
study.status_table(statuses)

# %% [markdown]
# ## Results
# Test WER (mean ± std over seeds), compute per frame and measured frames per second (one model
# per architecture, measured side by side).

# %%
grid = study.summarise(study.add_fps(study.grid_rows(cfg), cfg), ["size", "setting"])
cfg.write_result("grid", grid.to_dict("records"))
grid

# %%
plots.pareto(grid, "WER against compute and against measured speed")

# %% [markdown]
# ## KD weights
# LRINet with both KD terms at the headline size for each (alpha, beta) of the sweep
# (`kd_weights`; the first seed unless `sweep_seeds` says more), beside the grid's runs of that
# seed with feature KD only (beta = 0), logit KD only (alpha = 0) and the preset's weights. The
# sweep is a screen: with one seed, pairs within about two seed std of each other are ties.

# %%
sweep = study.summarise(study.sweep_rows(cfg), ["alpha", "beta"]).sort_values("wer")
cfg.write_result("sweep", sweep.to_dict("records"))
if not cfg.kd_weights:
    print("No sweep in this profile: set kd_weights, e.g. [[10, 5], [10, 1]], to run one.")
sweep

# %% [markdown]
# ## Scale against recover, on the WER-against-cost plane
# LRINet's last map at the teacher's size (CRKD) against a smaller map upsampled in the loss
# (ResKD), both with both KD terms, at the headline size. The two cost different compute, so
# the plane above shows both; the hierarchical answer (02, and the index) is not at equal cost.

# %%
Markdown(study.scale_recover_text(grid.to_dict("records"), cfg))

# %%
study.check_grid(statuses)
