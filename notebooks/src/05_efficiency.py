# %% [markdown]
# # 05 · Efficiency
#
# Parameters, GMACs per frame (torch's FLOP counter, plus the BiLSTM's multiply-adds
# analytically) and frames per second of batch-1 inference for the teacher and LRINet at
# several input sizes, for every preset. Models of one preset are timed interleaved, in one
# process with the same threads, so their ratios are fair. Untrained weights: speed does not
# depend on them. The classifier has `classes` outputs (PHOENIX-2014's 1296), so parameter
# counts differ from the SignWorld models of 02, whose vocabulary is small.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke|default|ablation|full: the study profile
data: str = "runs/study-smoke/data"  # dataset root; unused here but kept for the study
study_dir: str = "runs/study-smoke"  # the study folder: runs, results, executed notebooks
interactive: bool = True  # unused here
frames: int = 0  # clip length for GMACs and fps; 0 means the profile's
repeats: int = 0  # timed repeats per model; 0 means the profile's
min_seconds: float = 0.0  # minimum seconds per repeat; 0 means the profile's
classes: int = 1296  # classifier size (PHOENIX-2014: 1296 glosses)
benchmarks: str = "benchmarks/results"  # JSON written by benchmarks/latency.py, if any

# %%
import pandas as pd
from IPython.display import Markdown

from crkd_core import plots, study

study.session()  # plotly's renderer; CRKD errors shown as one line
cfg = study.EfficiencyConfig.build(**study.cell_parameters(study.EfficiencyConfig, globals()))
cfg.save()
cfg.table()

# %%
cost = pd.DataFrame(study.efficiency(cfg))
cfg.write_result("efficiency", cost.to_dict("records"))
cost

# %%
plots.efficiency_bars(cost)

# %%
plots.speed_vs_cost(cost)

# %% [markdown]
# ## Latency benchmarks
# Results of `benchmarks/latency.py` (`benchmarks/results/*.json`), when there are any.

# %%
bench = study.benchmark_results(cfg.benchmarks)
bench if bench is not None else Markdown("_No `benchmarks/results/*.json` yet._")

# %%
plots.latency_bars(bench)
