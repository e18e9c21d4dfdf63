# The two set-up commands of a fresh machine are `make study` and `make test`; both build the
# local .venv first when it is missing (or out of date with environment.yml / pyproject.toml).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build by default. On a GPU machine, e.g.:
#   make study TORCH_SPEC="torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cu124"
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= default
JOBS ?= 2  # ablation grid points trained in parallel (one thread each)
PYTEST_ARGS ?=
STUDY_FLAGS ?= --publish  # into reports/; `make study PROFILE=smoke STUDY_FLAGS=` keeps it in runs/
# KERNELS=avx2 pins torch (ATen), oneDNN and MKL to their AVX2 code paths on a CPU with more
# (crkd_core/machine.py; the README gives its cost). The numerics-marked tests run under it too.
KERNELS ?=
PIN_AVX2 := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2
KERNEL_ENV := $(if $(filter avx2,$(KERNELS)),$(PIN_AVX2),)

.PHONY: venv sysdeps web test study lab lint format clean-venv

$(VENV)/.installed: environment.yml pyproject.toml tools/env_requirements.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q pyyaml
	$(PY) -m pip install $(TORCH_SPEC) $$($(PY) tools/env_requirements.py environment.yml)
	$(PY) -m pip install --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# sclite (Debian: sctk) for the evaluation parity test, chromium for the report tests.
sysdeps:
	@bash tools/sysdeps.sh

# onnxruntime-web for `crkd demo` and its browser test, from the npm registry (never a CDN)
web: web/node_modules/.package-lock.json
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix web --no-audit --no-fund; \
	else echo "note: npm missing; crkd demo and its browser test need it (make sysdeps)" >&2; fi

test: venv sysdeps web
	$(PY) -m ruff check .
	$(KERNEL_ENV) $(PY) -m pytest $(PYTEST_ARGS)
	@echo "the numerics-marked tests again, on AVX2 kernels ($(PIN_AVX2))"
	$(PIN_AVX2) $(PY) -m pytest -m numerics $(PYTEST_ARGS)

study: venv web  # web: onnxruntime-web for the report's live demo page
	$(KERNEL_ENV) $(VENV)/bin/crkd study --profile $(PROFILE) --jobs $(JOBS) $(STUDY_FLAGS)

# JupyterLab on notebooks/ from the venv, so its `python3` kernel is the venv's python (the
# notebooks name python3, as papermill does); `crkd` is the same kernel for other Jupyter
# installs. LAB_ARGS: e.g. --no-browser --port 8890.
LAB_ARGS ?=
lab: venv
	$(PY) -m ipykernel install --sys-prefix --name crkd --display-name "CRKD (.venv)"
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean-venv:
	rm -rf $(VENV)
