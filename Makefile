# Everything runs from a project-local virtual environment that the first target creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Real MLflow for the model-format interop tests (tests/models/test_interop.py); same pin as bench/.
MLFLOW_VENV  := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed

# Debian's Chromium for the web UI's browser tests (tests/ui), driven by Playwright's Python package.
CHROMIUM := /usr/bin/chromium

# Prefect: no telemetry from tests or demos.
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint bench fuzz screenshots clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "prefect-mltrack needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,sklearn]'
	@touch $(STAMP)

$(MLFLOW_STAMP):
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install --quiet mlflow==3.17.2 skops
	@touch $(MLFLOW_STAMP)

## demo: the whole story on the embedded store (SQLite + local artifacts): tracking, a tracked Prefect
## training flow, registration, promotion, deployment to a local model server, a prediction over HTTP
demo: $(STAMP)
	$(BIN)/python docs/examples/tracking_demo.py
	@mkdir -p "$${PREFECT_HOME:-$$HOME/.prefect}"
	PREFECT_LOGGING_LEVEL=WARNING $(BIN)/python docs/examples/end_to_end.py
	$(BIN)/mltrack registry describe IrisClassifier

# Installed once from Debian's packages (as root, or through sudo). If that is impossible the UI tests
# skip and say why; everything else still runs.
$(CHROMIUM):
	-@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "warning: could not install Debian's chromium; the browser tests will be skipped" >&2

## test: the whole suite, SQLite and PostgreSQL (skipped with the reason when no server answers)
test: $(STAMP) $(MLFLOW_STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 --dist loadfile

## fuzz: the tracking server's whole OpenAPI surface, many more generated cases than the test suite runs
fuzz: $(STAMP)
	MLTRACK_FUZZ_EXAMPLES=$${MLTRACK_FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest tests/server/test_fuzz.py -p no:xdist -q

## screenshots: refresh docs/img/ui-*.png from the browser tests
screenshots: $(STAMP) $(CHROMIUM)
	MLTRACK_SCREENSHOTS=1 $(BIN)/python -m pytest tests/ui -p no:xdist -q

lint: $(STAMP)
	$(BIN)/ruff check prefect_mltrack tests bench docs
	$(BIN)/mypy

## bench: the same workloads on prefect-mltrack and on MLflow (installed in bench/.venv-mlflow)
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
