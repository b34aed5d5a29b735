# Two commands matter: `make run` (the grid pipeline through `dvc repro`) and `make test`.
# Both create .venv on first use. torch is pinned first so pip takes the CPU wheel on disk
# instead of resolving a multi-GB CUDA build for the package's looser `torch>=2.4`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# DVC stages call `python -m flows...`: make it the venv's python.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv run run-ant test test-all bench bench-serve serve browser services ui deploy mlflow-ui clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## main job: the grid pipeline for the active profile in params.yaml (default: `default`)
run: venv
	dvc repro

## the ant pipeline (ant/dvc.yaml): expert → collect → pretrain → probe → gt_controllers, discover → internal_rl
run-ant: venv
	dvc repro ant/dvc.yaml

## tests: unit invariants + smoke runs of every stage (slow ones: `make test-all`)
test: venv browser services
	$(PY) -m pytest -q

test-all: venv browser services
	$(PY) -m pytest -q -m ''

## Debian PostgreSQL for the native team-stack integration test (installed once, as root)
services:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

## Debian chromium + chromedriver for the viewer's browser test (installed once, as root)
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

## the policy service on http://127.0.0.1:8000 (viewer at /, OpenAPI at /docs). Models: the MLflow
## registry of `make run` (mlflow.db, alias champion) when it exists, else models/grid/.
serve: venv
	@if [ -z "$$MLFLOW_TRACKING_URI" ] && [ -f mlflow.db ]; then export MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/mlflow.db; fi; \
	  $(PY) -m serving --host 127.0.0.1 --port $${PORT:-8000}

## benchmarks print JSON figures; nothing is asserted
bench: venv
	$(PY) bench/grid_env.py

bench-serve: venv
	$(PY) bench/serve.py

## the Prefect UI on http://127.0.0.1:4200 (same database as the temporary server `make run` uses),
## with every stage and the pipeline served as deployments of this process: trigger them from the UI
ui: venv
	@prefect server start --host 127.0.0.1 --port 4200 & server=$$!; trap "kill $$server" EXIT INT TERM; \
	  until curl -fsS http://127.0.0.1:4200/api/health >/dev/null 2>&1; do \
	    kill -0 $$server 2>/dev/null || exit 1; sleep 1; done; \
	  echo "Prefect UI: http://127.0.0.1:4200 (deployments served; Ctrl-C stops both)"; \
	  PREFECT_API_URL=http://127.0.0.1:4200/api $(PY) -m flows.serve_all

## register prefect.yaml's deployments on PREFECT_API_URL (a team server) for workers on irl-pool
deploy: venv
	@test -n "$$PREFECT_API_URL" || { echo "set PREFECT_API_URL (e.g. http://prefect-host:4200/api)"; exit 1; }
	prefect work-pool create irl-pool --type process --overwrite
	IRL_WORKDIR=$${IRL_WORKDIR:-$(CURDIR)} prefect --no-prompt deploy --all

## the MLflow UI on the embedded SQLite store, http://127.0.0.1:5000
mlflow-ui: venv
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

clean-venv:
	rm -rf $(VENV)
