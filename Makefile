# Two front doors: `make demo` runs the whole job on the embedded models, `make test` runs the tests.
# Both create .venv in this checkout on first use (llama-cpp-python compiles for ~7 minutes once).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tipbench-installed
DEMO_EXPERIMENT ?= tipbench-demo
DEMO_OUT ?= out/demo

.PHONY: help install test demo mlflow-ui lint bench clean

help:
	@echo "make demo       collect with the embedded models, LLM-judge, compare, write report.html"
	@echo "make test       run the test suite (real MLflow server, real embedded models)"
	@echo "make mlflow-ui  keep tipbench's MLflow server running to browse its UI"
	@echo "make lint       ruff"
	@echo "make bench      run the benchmarks in bench/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tipbench needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing tipbench and its dependencies into $(VENV) (first time: ~10 minutes, llama-cpp-python compiles)..."
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) -m tipbench_lib.demo --experiment $(DEMO_EXPERIMENT) --out $(DEMO_OUT)

mlflow-ui: $(STAMP)
	$(PY) -m tipbench_lib.tracking.server --port 5000

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/mlflow_logging.py
	$(PY) bench/collect_overhead.py
	$(PY) bench/judge_latency.py
	$(PY) bench/compare_scale.py

clean:
	rm -rf .tipbench out .pytest_cache
