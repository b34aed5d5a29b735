# Two commands matter: `make run` (the default grid pipeline through dvc repro) and `make test`.
# Both create .venv on first use. torch is pinned first so pip takes the CPU wheel on disk
# instead of resolving a multi-GB CUDA build for the package's looser `torch>=2.4`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= default

export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.PHONY: venv run test test-all bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## main job: the grid pipeline for $(PROFILE) through DVC (stages run Prefect flows, log to MLflow)
run: venv
	$(PY) -m flows.profile use $(PROFILE)
	$(VENV)/bin/dvc repro

## tests (smoke configs; `make test-all` includes the slow ones)
test: venv
	$(PY) -m pytest -q

test-all: venv
	$(PY) -m pytest -q -m ''

bench: venv
	$(PY) bench/grid_env.py

clean-venv:
	rm -rf $(VENV)
