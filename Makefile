# Two front doors: `make demo` runs the whole job on the embedded models, `make test` runs the tests.
# Both create .venv in this checkout on first use (llama-cpp-python compiles for ~7 minutes once).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tipbench-installed
# llama.cpp is built once per machine into a wheel cache shared by every checkout. Built for a
# portable x86-64 level (AVX2, no AVX-512/AMX): a native build turns on AMX tile instructions
# wherever the CPU reports them, and inside virtual machines that do not grant AMX to processes
# they crash with a general-protection fault on the first decode (docs/architecture.md).
LLAMA_CPP_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
WHEELS ?= $(HOME)/.cache/tipbench/wheels
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
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
	@ls $(WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) into $(WHEELS) (once per machine: ~7 minutes on 2 cores)..."; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
			--no-binary llama-cpp-python "llama-cpp-python==$(LLAMA_CPP_VERSION)" -w $(WHEELS); }
	@echo "Installing tipbench and its dependencies into $(VENV)..."
	$(PY) -m pip install --quiet --find-links $(WHEELS) -e '.[dev]'
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
	$(PY) bench/stats_validity.py

clean:
	rm -rf .tipbench out .pytest_cache
