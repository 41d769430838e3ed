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
# Apache Airflow (dags/prompt_ab_eval.py) lives in an environment of its own: it pins its whole
# dependency tree, which would fight tipbench's. Its tasks run tipbench from .venv by command line.
AIRFLOW_VERSION := 3.3.2
AIRFLOW_VENV    := .venv-airflow
AIRFLOW_STAMP   := $(AIRFLOW_VENV)/.airflow-installed
DEMO_EXPERIMENT ?= tipbench-demo
DEMO_OUT ?= out/demo

# The apps (make judge / compare-app / collect-app) listen on APP_HOST:APP_PORT behind a token.
APP_HOST ?= 127.0.0.1
APP_PORT ?= 2718
TOKEN_FILE ?=

.PHONY: help install airflow airflow-standalone airflow-trigger airflow-test test demo mlflow-ui judge compare-app collect-app lint bench bench-scaleout clean

help:
	@echo "make demo       collect with the embedded models, LLM-judge, compare against a named"
	@echo "                baseline, write report.html, log the summary run (prints an ETA)"
	@echo "make test       run the test suite (real MLflow server, real embedded models, Airflow)"
	@echo "make airflow    create .venv-airflow with Apache Airflow $(AIRFLOW_VERSION) for dags/"
	@echo "make airflow-standalone  a local Airflow for dags/ (export MLFLOW_TRACKING_URI first)"
	@echo "make airflow-trigger CONF='{...}'  from a second terminal: run prompt_ab_eval"
	@echo "make airflow-test  run the prompt_ab_eval DAG end to end through a local Airflow"
	@echo "make mlflow-ui  keep tipbench's MLflow server running to browse its UI"
	@echo "make judge EXPERIMENT=name [JUDGE=id] [MODE=rubric|pairwise] [ORDER=adaptive|uniform|ppi-uniform] [BASELINE=model:prompt]"
	@echo "                                        the judging app, behind a token (prints its URL)"
	@echo "make compare-app [EXPERIMENT=name]      the compare app, behind a token"
	@echo "make collect-app                        the collect app, behind a token"
	@echo "  (APP_HOST=127.0.0.1 APP_PORT=2718 TOKEN_FILE=<file holding a token> to change)"
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

# Pinned by constraints-airflow.txt (Airflow's published constraints file is on the web; ours is
# in the repository). ~1 minute with a warm pip cache.
$(AIRFLOW_STAMP): constraints-airflow.txt
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	@echo "Installing apache-airflow $(AIRFLOW_VERSION) into $(AIRFLOW_VENV)..."
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" \
		-c constraints-airflow.txt
	@touch $@

airflow: $(AIRFLOW_STAMP)

# A local Airflow for dags/ on one machine (README, "Several GPU hosts: Airflow"): its state in
# .airflow/, its API server on AIRFLOW_API_PORT, the scheduler's and the triggerer's log servers
# on AIRFLOW_LOG_PORT and AIRFLOW_TRIGGER_LOG_PORT (Airflow's defaults 8080, 8793, 8794). The task
# runners report to the API server, so its execution API moves with its port. Both targets set
# the same environment, so the trigger works from a second terminal.
AIRFLOW_API_PORT ?= 8080
AIRFLOW_LOG_PORT ?= 8793
AIRFLOW_TRIGGER_LOG_PORT ?= 8794
AIRFLOW_ENV = AIRFLOW_HOME="$(CURDIR)/.airflow" AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__API__PORT=$(AIRFLOW_API_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:$(AIRFLOW_API_PORT)/execution/ \
	AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$(AIRFLOW_LOG_PORT) \
	AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$(AIRFLOW_TRIGGER_LOG_PORT) \
	PATH="$(CURDIR)/$(AIRFLOW_VENV)/bin:$$PATH"

# Holds the terminal. The tasks inherit MLFLOW_TRACKING_URI from it, so it must be exported first.
airflow-standalone: $(STAMP) $(AIRFLOW_STAMP)
	@test -n "$$MLFLOW_TRACKING_URI" || { echo "export MLFLOW_TRACKING_URI=http://MLFLOW-HOST:5000 first: every task logs to that one server (README, 'One shared MLflow server')" >&2; exit 2; }
	$(AIRFLOW_ENV) airflow db migrate
	$(AIRFLOW_ENV) airflow pools import pools-airflow.json
	$(AIRFLOW_ENV) airflow standalone

# From a second terminal while airflow-standalone runs: CONF='{"experiment": ...}'. Waits for the
# API server, then serializes the DAG (standalone's DAG processor takes 25-35 s to find a new file, and a
# trigger before it answers DagNotFound), and unpaused (a new DAG starts paused).
airflow-trigger:
	@test -n "$$CONF" || { echo "usage: make airflow-trigger CONF='{\"experiment\": ..., \"models\": [...], \"hosts\": [...]}'" >&2; exit 2; }
	@echo "waiting for Airflow's API server on port $(AIRFLOW_API_PORT) (a task queued before it answers stays queued)..."
	@until curl -sf http://localhost:$(AIRFLOW_API_PORT)/api/v2/monitor/health >/dev/null; do sleep 2; done
	$(AIRFLOW_ENV) airflow dags reserialize
	$(AIRFLOW_ENV) airflow dags unpause prompt_ab_eval
	$(AIRFLOW_ENV) airflow dags trigger prompt_ab_eval --conf "$$CONF"

airflow-test: $(STAMP) $(AIRFLOW_STAMP)
	$(PY) -m pytest tests/test_airflow_dag.py

test: $(STAMP) $(AIRFLOW_STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/tipbench demo --experiment $(DEMO_EXPERIMENT) --out $(DEMO_OUT)

mlflow-ui: $(STAMP)
	$(VENV)/bin/tipbench mlflow-ui --port 5000

# Every app gets a token: a fresh random one, or the first line of TOKEN_FILE. It reaches marimo on
# stdin (never on a command line, which every local user can read with ps) and marimo prints the
# URL holding it once. Anyone who can reach APP_HOST:APP_PORT and holds the token can use the app.
define run_app
	@{ if [ -n "$(TOKEN_FILE)" ]; then head -n 1 "$(TOKEN_FILE)"; \
	   else $(PY) -c 'import secrets; print(secrets.token_urlsafe(24))'; fi; } | \
	$(VENV)/bin/marimo run $(1) --headless --host $(APP_HOST) --port $(APP_PORT) \
		--token-password-file - -- $(2)
endef

# The names reach the app from the environment ("$$EXPERIMENT"; make puts variables given on its
# command line there), never pasted into the recipe: a quote in a name stays part of the name.
judge: $(STAMP)
	@test -n "$$EXPERIMENT" || { echo "usage: make judge EXPERIMENT=name [JUDGE=id] [MODE=rubric|pairwise] [BASELINE=model:prompt]" >&2; exit 2; }
	$(call run_app,notebooks/judge.py,--experiment "$$EXPERIMENT" $(if $(JUDGE),--judge-id "$$JUDGE") $(if $(MODE),--mode "$$MODE") $(if $(ORDER),--order "$$ORDER") $(if $(BASELINE),--baseline "$$BASELINE"))

compare-app: $(STAMP)
	$(call run_app,notebooks/compare.py,$(if $(EXPERIMENT),--experiment "$$EXPERIMENT"))

collect-app: $(STAMP)
	$(call run_app,notebooks/collect.py,)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/mlflow_logging.py
	$(PY) bench/collect_overhead.py
	$(PY) bench/judge_latency.py
	$(PY) bench/compare_scale.py
	$(PY) bench/stats_validity.py

bench-scaleout: $(STAMP) $(AIRFLOW_STAMP)
	$(PY) bench/scaleout.py

clean:
	rm -rf .tipbench out .pytest_cache
