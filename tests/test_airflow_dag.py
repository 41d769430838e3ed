"""The ``prompt_ab_eval`` DAG run by Airflow itself over two Ollama stand-ins playing two GPU hosts.

The end-to-end run uses Airflow's own machinery (scheduler with the LocalExecutor, API server, DAG
processor, the pools ``tipbench_host_<i>``) from ``.venv-airflow``, a real ``mlflow server``, and
two stand-in servers on two ports. What a GPU owner cares about is asserted on the stand-ins' own
records (loads, unloads, when each generation ran); what a researcher cares about in MLflow. During
the run one collect task's process is killed mid-model and one host fails one generation, so both
retry paths are exercised in the same run.

The DAG module imports Airflow, so its own functions are tested in the Airflow environment's
Python (:func:`tests.airflow_harness.airflow_python`).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tipbench_lib.collect.cli import collect_parser
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.tracking.mapping import CELL_TAG
from tipbench_lib.tracking.summary import KIND_TAG, SUMMARY_FILES, find_summary_run

from .airflow_harness import (
    ROOT,
    LocalAirflow,
    TaskInstance,
    airflow_installed,
    airflow_python,
    session_members,
)
from .ollama_standin import Event, FakeModel, Fault, GenerationSpan, OllamaStandIn

pytestmark = pytest.mark.airflow

VALID_SCORES = json.dumps(
    {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": True, "overlong": False}
)
GRID_MODELS = {  # name → parameter count; the stand-in's size on disk is 0.6 byte per parameter
    "gen-a:1b": 3_000_000_000,
    "gen-b:1b": 2_500_000_000,
    "gen-c:1b": 2_000_000_000,
    "gen-d:1b": 1_500_000_000,
}
JUDGE = "judge:1b"
PROMPTS, N_SCENARIOS, N_TIPS = ("v1", "v3-few-shot"), 3, 2
CELLS_PER_MODEL = len(PROMPTS) * N_SCENARIOS
KILLED_MODEL = "gen-a:1b"  # the first model on host A
KILL_AFTER = 4  # generations of it done when its task process is killed
FAULTY_MODEL = "gen-d:1b"  # on host B; its first generation fails once


@pytest.fixture(scope="module", autouse=True)
def _needs_airflow() -> None:
    if airflow_installed():
        return
    message = "the Airflow environment .venv-airflow is missing: run `make airflow`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def in_airflow(code: str, tmp_path: Path, **env: str):
    prelude = "import json, sys\nsys.path.insert(0, 'dags')\nimport prompt_ab_eval as d\n"
    return airflow_python(prelude + code, tmp_path / "airflow-home", env=env)


# -- the DAG file on its own --------------------------------------------------------------------


def test_dagbag_imports_the_dag_without_errors(tmp_path):
    found = in_airflow(
        """
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.mappedoperator import MappedOperator
bag = DagBag(dag_folder="dags")
dag = bag.dags.get("prompt_ab_eval")
tasks = {
    t.task_id: {
        "pool": t.pool,
        "mapped": isinstance(t, MappedOperator),
        "upstream": sorted(t.upstream_task_ids),
        "max_active_tis_per_dag": t.max_active_tis_per_dag,
    }
    for t in (dag.tasks if dag else [])
}
print(json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dags), "tasks": tasks,
                  "max_active_runs": dag.max_active_runs if dag else None,
                  "params": sorted(dag.params) if dag else []}))
""",
        tmp_path,
        TIPBENCH_AIRFLOW_HOST_LANES="3",
    )
    assert found["errors"] == {}
    assert found["dags"] == ["prompt_ab_eval"]
    tasks = found["tasks"]
    assert set(tasks) == {
        "plan",
        *(f"host_{i}_models" for i in range(3)),
        *(f"collect_host_{i}" for i in range(3)),
        "llm_judge",
        "compare",
    }
    for lane in range(3):
        collect = tasks[f"collect_host_{lane}"]
        assert collect["mapped"] and collect["pool"] == f"tipbench_host_{lane}"
        assert collect["max_active_tis_per_dag"] == 1
        assert collect["upstream"] == [f"host_{lane}_models"]
    assert tasks["llm_judge"]["upstream"] == [f"collect_host_{i}" for i in range(3)]
    assert tasks["compare"]["upstream"] == ["llm_judge"]
    assert found["max_active_runs"] == 1
    for param in ("experiment", "models", "prompts", "scenarios", "n_tips", "rubric", "hosts"):
        assert param in found["params"]
    assert "llm_judge" in found["params"]


def test_pools_file_gives_each_default_lane_one_slot():
    pools = json.loads((ROOT / "pools-airflow.json").read_text())
    assert pools == {
        f"tipbench_host_{i}": {
            "slots": 1,
            "description": pools[f"tipbench_host_{i}"]["description"],
        }
        for i in range(4)
    }


def test_the_plan_becomes_the_lanes_and_a_split_model_collects_its_scenarios_only(tmp_path):
    """``tipbench collect --plan-hosts`` prints the plan (tests/test_host_plan.py); the DAG maps
    it to lanes by the hosts' order, and a share of some scenarios collects only those, in a
    home of its own (two shares of one model never share a journal)."""
    found = in_airflow(
        """
grid = d.grid_from_params({"experiment": "e", "models": ["a", "b"], "prompts": ["v1"],
                           "scenarios": "3", "n_tips": 2, "hosts": ["http://A", "http://B"]})
planned = {"hosts": [
    {"host": "http://A", "predicted_s": 9, "shares": [
        {"model": "a", "scenarios": None, "predicted_s": 6},
        {"model": "b", "scenarios": ["s1"], "predicted_s": 3}]},
    {"host": "http://B", "predicted_s": 8, "shares": [
        {"model": "b", "scenarios": ["s2", "s3"], "predicted_s": 8}]}], "one_host_s": 15}
lanes = d.lanes_of(grid, planned)
stranger = {"hosts": [planned["hosts"][0], {"host": "http://B", "predicted_s": 1,
            "shares": [{"model": "zz", "scenarios": None, "predicted_s": 1}]}]}
try:
    d.lanes_of(grid, stranger)
    refused = None
except Exception as exc:
    refused = str(exc)
print(json.dumps({
    "lanes": lanes,
    "part": d.collect_args(grid, "b", False, ["s2", "s3"]),
    "plan": d.plan_args(grid),
    "refused": refused,
}))
""",
        tmp_path,
        TIPBENCH_AIRFLOW_HOST_LANES="3",
    )
    lanes = found["lanes"]
    assert [(e["model"], e["host"], e["scenarios"]) for e in lanes["lane_0"]] == [
        ("a", "http://A", None),
        ("b", "http://A", ["s1"]),
    ]
    assert [(e["model"], e["lane"], e["scenarios"]) for e in lanes["lane_1"]] == [
        ("b", 1, ["s2", "s3"])
    ]
    assert lanes["lane_2"] == []
    part = found["part"]
    assert part[part.index("--scenarios") + 1] == "s2,s3"
    assert part[part.index("--models") + 1] == "b"
    plan = found["plan"]
    assert plan[plan.index("--models") + 1] == "a,b"
    assert plan[plan.index("--plan-hosts") + 1] == "http://A,http://B"
    assert collect_parser().parse_args(plan).plan_hosts == "http://A,http://B"
    assert "zz" in (found["refused"] or ""), found


def test_bad_runs_are_refused_with_the_reason(tmp_path):
    found = in_airflow(
        """
base = {"experiment": "e", "models": ["a"], "prompts": ["v1"], "scenarios": "3", "n_tips": 2,
        "hosts": ["127.0.0.1:1"]}
cases = {
    "repeated": {"hosts": ["127.0.0.1:1", "http://127.0.0.1:1/"]},
    "too_many": {"hosts": ["h1", "h2", "h3"]},
    "no_models": {"models": []},
    "model_twice": {"models": ["a", "b", "a:latest"]},
    "no_tips": {"n_tips": 0},
}
out = {}
for name, change in cases.items():
    try:
        d.grid_from_params({**base, **change})
        out[name] = None
    except ValueError as exc:
        out[name] = str(exc)
out["ok_hosts"] = list(d.grid_from_params(base).hosts)
print(json.dumps(out))
""",
        tmp_path,
        TIPBENCH_AIRFLOW_HOST_LANES="2",
    )
    assert "http://127.0.0.1:1" in found["repeated"] and "more than once" in found["repeated"]
    assert "TIPBENCH_AIRFLOW_HOST_LANES=3" in found["too_many"]
    assert "models is empty" in found["no_models"]
    assert "a, a:latest" in found["model_twice"] and "more than once" in found["model_twice"]
    assert "n_tips" in found["no_tips"]
    assert found["ok_hosts"] == ["http://127.0.0.1:1"]


def test_collect_command_line_is_tipbench_collect_for_one_model(tmp_path):
    found = in_airflow(
        """
grid = d.grid_from_params({"experiment": "exp 1", "models": ["a", "b"], "prompts": ["v1", "v2"],
                           "scenarios": 6, "n_tips": 3, "hosts": ["h"],
                           "collect_args": ["--max-tokens", "64"]})
ruled = d.Grid(**{**grid.__dict__, "rubric": "tip-v2"})
print(json.dumps({
    "first": d.tipbench_command("collect", d.collect_args(grid, "b", retry=False)),
    "retry": d.collect_args(grid, "b", retry=True),
    "ruled": d.collect_args(ruled, "b", retry=False),
}))
""",
        tmp_path,
        TIPBENCH_CHECKOUT="/opt/tipbench",
    )
    assert found["first"] == [
        "/opt/tipbench/.venv/bin/tipbench",
        "collect",
        "--experiment",
        "exp 1",
        "--models",
        "b",
        "--prompts",
        "v1,v2",
        "--scenarios",
        "6",
        "--n-tips",
        "3",
        "--backend",
        "ollama",
        "--max-tokens",
        "64",
    ]
    assert "--rubric" not in found["first"]
    assert found["retry"][-3:] == ["--retry-failed", "--max-tokens", "64"]
    assert found["ruled"][found["ruled"].index("--rubric") + 1] == "tip-v2"
    assert collect_parser().parse_args(found["ruled"]).rubric == "tip-v2", "collect takes it"


def test_exit_status_decides_between_retry_and_failing_for_good(tmp_path):
    found = in_airflow(
        """
from airflow.sdk.exceptions import AirflowFailException
out = {}
for code in (0, 1, 2, 3, 130, -9):
    try:
        d.raise_for_exit("collect", code, ["last line"])
        out[code] = "ok"
    except AirflowFailException as exc:
        out[code] = "fail: " + str(exc)
    except Exception as exc:
        out[code] = "retry: " + str(exc)
print(json.dumps(out))
""",
        tmp_path,
    )
    assert found["0"] == "ok"
    assert found["2"].startswith("fail: ") and "last line" in found["2"]
    for code in ("1", "3", "130", "-9"):
        assert found[code].startswith("retry: "), (code, found[code])
    assert "killed by signal 9" in found["-9"]


def compare_in_airflow(params: dict, tmp_path: Path, **env: str) -> dict:
    """The DAG's compare task run on ``params`` in Airflow's environment: its result and log."""
    return in_airflow(
        f"""
import contextlib, io
log = io.StringIO()
with contextlib.redirect_stdout(log):
    report = d.compare_grid(d.grid_from_params({params!r}))
print(json.dumps({{"report": report, "log": log.getvalue()}}))
""",
        tmp_path,
        TIPBENCH_AIRFLOW_HOME=str(tmp_path / "work"),
        **env,
    )


def test_compare_with_nothing_judged_yet_succeeds_and_says_how_to_judge(
    tmp_path, mlflow_server, mlflow_client, experiment_name, monkeypatch
):
    """A grid without ``llm_judge``, before people judge: no report, a green task, what to do."""
    from tipbench_lib.collect.cli import main as collect_main

    with OllamaStandIn(host_models(), load_s=0.01, gen_s=0.0) as host:
        monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / "collect-home"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        monkeypatch.setenv("OLLAMA_HOST", host.url)
        grid = ["--experiment", experiment_name, "--backend", "ollama", "--models", "gen-a:1b"]
        grid += ["--prompts", "v1", "--scenarios", "1", "--n-tips", "2", "--max-tokens", "16"]
        assert collect_main(grid) == 0
    params = {"experiment": experiment_name, "models": ["gen-a:1b"], "prompts": ["v1"]}
    params |= {"scenarios": "1", "n_tips": 2, "hosts": [host.url]}
    params |= {"report_dir": str(tmp_path / "report")}
    found = compare_in_airflow(params, tmp_path)
    assert found["report"] is None, found["log"]
    log = found["log"]
    ran = [line for line in log.splitlines() if line.startswith("running: ")]
    assert ran == [f"running: {tipbench_dir()}/tipbench status --experiment {experiment_name}"]
    assert (
        f"nothing judged yet: experiment {experiment_name!r} holds 2 candidate tip(s) in 1 cell(s)"
        in log
    ), log
    assert f"tipbench judge --experiment {experiment_name} --llm-judge MODEL" in log, log
    assert "clear this task in Airflow" in log, log
    assert not (tmp_path / "report").exists()
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    assert find_summary_run(mlflow_client, exp.experiment_id) is None


def test_compare_of_an_experiment_judged_in_pairs_only_writes_the_report(
    tmp_path, mlflow_server, mlflow_client, experiment_name, tipbench_home, monkeypatch
):
    """No tip scored on the rubric, every pair answered by an outside judge: compare ran
    before only when a candidate had a rubric score, so a team judging in pairs got no report
    (issue 21, "choose per experiment"). ``tipbench status`` counts the pairs and compare runs."""
    from tipbench_lib.collect.cli import main as collect_main

    from .test_pair_exchange import _answer, _apply, _export

    with OllamaStandIn(host_models(), load_s=0.01, gen_s=0.0) as host:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        monkeypatch.setenv("OLLAMA_HOST", host.url)
        grid = ["--experiment", experiment_name, "--backend", "ollama", "--models", "gen-a:1b"]
        grid += ["--prompts", "v1,v2-mentor", "--scenarios", "2", "--n-tips", "2"]
        assert collect_main([*grid, "--max-tokens", "16"]) == 0
    cards = _export(mlflow_client, experiment_name, tmp_path / "pairs.json", "--judge-id", "ana")
    assert _apply(mlflow_client, experiment_name, tmp_path / "filled.json", _answer(cards)) == 0
    params = {"experiment": experiment_name, "models": ["gen-a:1b"], "prompts": ["v1", "v2-mentor"]}
    params |= {"scenarios": "2", "n_tips": 2, "hosts": [host.url]}
    params |= {"report_dir": str(tmp_path / "report")}
    found = compare_in_airflow(params, tmp_path, MLFLOW_TRACKING_URI=mlflow_server)
    assert found["report"] == str(tmp_path / "report" / "report.html"), found["log"]
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "judged in pairs only" in page and "<section id='pairwise'>" in page
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    assert find_summary_run(mlflow_client, exp.experiment_id) is not None


class HeaderListener:
    """A loopback HTTP server that answers 404 to everything and keeps each request's headers:
    where a credential would land if the DAG sent tipbench to an address a run named."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.headers = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append(dict(self.headers))
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}')

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_run_cannot_send_the_workers_mlflow_credentials_elsewhere(
    tmp_path, mlflow_server, experiment_name
):
    """``mlflow_tracking_uri`` in a run's configuration once replaced the workers' MLflow address,
    token included: whoever could trigger the DAG collected the worker's credential (issue 17,
    finding 6). The address now comes from the worker's environment alone."""
    listener = HeaderListener()
    try:
        params = {"experiment": experiment_name, "models": ["a"], "prompts": ["v1"]}
        params |= {"scenarios": "1", "n_tips": 1, "hosts": ["http://127.0.0.1:9"]}
        params |= {"report_dir": str(tmp_path / "report"), "mlflow_tracking_uri": listener.url}
        found = in_airflow(
            f"""
import contextlib, io
log = io.StringIO()
try:
    with contextlib.redirect_stdout(log):
        d.compare_grid(d.grid_from_params({params!r}))
    refused = None
except Exception as exc:
    refused = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"refused": refused, "log": log.getvalue()}}))
""",
            tmp_path,
            TIPBENCH_AIRFLOW_HOME=str(tmp_path / "work"),
            MLFLOW_TRACKING_URI=mlflow_server,
            MLFLOW_TRACKING_TOKEN="worker-secret-token",
        )
    finally:
        listener.close()
    leaked = [h for h in listener.headers if any(k.lower() == "authorization" for k in h)]
    assert leaked == [], "the worker's token went to the run's address"
    assert listener.headers == [], "nothing at all goes to an address a run names"
    refused = found["refused"] or ""
    assert refused.startswith("ValueError: mlflow_tracking_uri is not a run parameter"), found
    assert "MLFLOW_TRACKING_URI in every worker's environment" in refused


def test_every_command_the_dag_prints_is_quoted_for_a_shell(tmp_path):
    """A name from a run's parameters printed bare in a hint would, copied into a terminal, run
    something else (issue 17, finding 6): ``make judge EXPERIMENT=x; touch f``. The hint and the
    log's ``running:`` line split back into the very words the DAG meant."""
    hostile = "x; touch pwned 'q'"
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "tipbench").write_text("#!/bin/sh\nexit 0\n")
    (fake / "tipbench").chmod(0o755)
    found = in_airflow(
        f"""
import contextlib, io
grid = d.grid_from_params({{"experiment": {hostile!r}, "models": ["a b"], "prompts": ["v1"],
                           "scenarios": "1", "n_tips": 1, "hosts": ["h"]}})
hint = d.nothing_judged_yet(grid, {{"candidates": 2, "cells": 1}}, d.Path("/tmp/out dir"))
log = io.StringIO()
with contextlib.redirect_stdout(log):
    d.run_tipbench("collect", d.collect_args(grid, "a b", False), {{}}, d.Path({str(tmp_path)!r}))
print(json.dumps({{"hint": hint, "log": log.getvalue()}}))
""",
        tmp_path,
        TIPBENCH_PYTHON=str(fake / "python"),
    )
    commands = [shlex.split(part) for i, part in enumerate(found["hint"].split("`")) if i % 2]
    assert commands == [
        ["tipbench", "judge", "--experiment", hostile, "--llm-judge", "MODEL"],
        ["make", "judge", f"EXPERIMENT={hostile}", "JUDGE=ID"],
        ["tipbench", "compare", "--experiment", hostile, "--out", "/tmp/out dir", "--log-summary"],
    ], found["hint"]
    [running] = [line for line in found["log"].splitlines() if line.startswith("running: ")]
    words = shlex.split(running.removeprefix("running: "))
    assert words[:6] == [
        str(fake / "tipbench"),
        "collect",
        "--experiment",
        hostile,
        "--models",
        "a b",
    ]


def tipbench_dir() -> str:
    """Where the DAG finds the ``tipbench`` command (``TIPBENCH_PYTHON``, else the checkout's)."""
    python = os.environ.get("TIPBENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    return str(Path(python).parent)


# -- the DAG end to end -------------------------------------------------------------------------


@dataclass
class Kill:
    """What the test killed, and what it saw of tipbench afterwards."""

    task_pid: int = 0
    tipbench_pid: int = 0
    generations_before: int = 0
    tipbench_gone: bool = False
    error: str = ""


@dataclass
class DagRunResult:
    state: str
    tis: list[TaskInstance]
    hosts: dict[str, OllamaStandIn]
    experiment: str
    report_dir: Path
    kill: Kill
    logs: str = ""
    conf: dict = field(default_factory=dict)
    leftover: list[int] = field(default_factory=list)
    """Processes of the Airflow sessions still alive after it was stopped (should be none)."""


def host_models(without: tuple[str, ...] = ()) -> list[FakeModel]:
    models = [
        FakeModel(name, count, texts=(f"{name} says: block 25 minutes for the report now.",))
        for name, count in GRID_MODELS.items()
        if name not in without
    ]
    return [*models, FakeModel(JUDGE, 1_000_000_000, json_text=VALID_SCORES, gen_s=0.01)]


def _processes() -> Iterator[tuple[int, list[str]]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            yield int(entry.name), [a.decode(errors="replace") for a in args if a]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def kill_task_mid_model(host: OllamaStandIn, model: str, kill: Kill, stop: threading.Event) -> None:
    """When ``model`` has done ``KILL_AFTER`` generations, SIGKILL the Airflow task process that
    runs its collect (tipbench's parent), as the kernel's OOM killer would."""
    try:
        while not stop.is_set() and len(host.generation_spans(model)) < KILL_AFTER:
            time.sleep(0.05)
        if stop.is_set():
            return
        kill.generations_before = len(host.generation_spans(model))
        found = [
            pid
            for pid, args in _processes()
            if any(a.endswith("/bin/tipbench") for a in args)
            and "collect" in args
            and model in args
        ]
        if len(found) != 1:
            kill.error = f"expected one tipbench collect for {model}, found {found}"
            return
        kill.tipbench_pid = found[0]
        kill.task_pid = _parent(kill.tipbench_pid)
        os.kill(kill.task_pid, signal.SIGKILL)
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not a speed
        while time.monotonic() < deadline and _alive(kill.tipbench_pid):
            time.sleep(0.05)
        kill.tipbench_gone = not _alive(kill.tipbench_pid)
    except Exception as exc:  # reported by the test that needs the kill
        kill.error = repr(exc)


@pytest.fixture(scope="module")
def dag_run(mlflow_server, tmp_path_factory) -> Iterator[DagRunResult]:
    base = tmp_path_factory.mktemp("airflow-e2e")
    experiment = f"airflow-e2e-{uuid.uuid4().hex[:8]}"
    host_a = OllamaStandIn(host_models(), load_s=0.5, gen_s=0.25).start()
    host_b = OllamaStandIn(host_models(without=("gen-c:1b",)), load_s=0.5, gen_s=0.25).start()
    host_b.set_fault(FAULTY_MODEL, Fault("stream_error", times=1))
    airflow = LocalAirflow(
        base / "airflow",
        lanes=3,
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "TIPBENCH_AIRFLOW_HOME": str(base / "work"),
            "TIPBENCH_AIRFLOW_RETRY_DELAY_S": "1",
        },
    )
    kill, stop = Kill(), threading.Event()
    killer = threading.Thread(
        target=kill_task_mid_model, args=(host_a, KILLED_MODEL, kill, stop), daemon=True
    )
    conf = {
        "experiment": experiment,
        "models": list(GRID_MODELS),
        "prompts": list(PROMPTS),
        "scenarios": str(N_SCENARIOS),
        "n_tips": N_TIPS,
        "hosts": [host_a.url, host_b.url],
        "llm_judge": JUDGE,
        "rubric": "tip-v1",
        "collect_args": ["--max-tokens", "32", "--timeout", "60"],
        "report_dir": str(base / "report"),
    }
    try:
        with airflow:
            sessions = {proc.pid for proc in airflow.procs}
            airflow.wait_for_dag()
            killer.start()
            airflow.trigger(conf, run_id="e2e")
            state = airflow.wait_for_run("e2e", timeout=1800)
            result = DagRunResult(
                state=state,
                tis=airflow.task_instances("e2e"),
                hosts={"A": host_a, "B": host_b},
                experiment=experiment,
                report_dir=base / "report",
                kill=kill,
                logs=airflow.logs() if state != "success" else "",
                conf=conf,
            )
        result.leftover = session_members(sessions)
        yield result
    finally:
        stop.set()
        host_a.stop()
        host_b.stop()


END_TO_END = pytest.mark.timeout(2400)
"""The Airflow run is made once, in the set-up of whichever of these tests comes first: starting
Airflow, parsing the DAG and the whole run (``wait_for_run``'s bound) fit a loaded 2-core
machine, where the suite's default of 900 s per test did not leave room for them."""


def collect_tis(result: DagRunResult) -> list[TaskInstance]:
    """The collect task instances that ran (a lane without a host has none)."""
    return [ti for ti in result.tis if ti.task_id.startswith("collect_host_") and ti.map_index >= 0]


@END_TO_END
def test_the_run_succeeds_through_airflow(dag_run):
    states = {(ti.task_id, ti.map_index): ti.state for ti in dag_run.tis}
    assert dag_run.state == "success", (states, dag_run.logs)
    assert states[("collect_host_2", -1)] == "skipped"  # the lane without a host
    assert states[("llm_judge", -1)] == "success" and states[("compare", -1)] == "success"


@END_TO_END
def test_every_cell_ends_as_exactly_one_finished_run(dag_run, mlflow_client):
    exp = mlflow_client.get_experiment_by_name(dag_run.experiment)
    runs = mlflow_client.search_runs([exp.experiment_id])
    cells = [r for r in runs if r.tags.get(CELL_TAG)]
    assert len(cells) == len(GRID_MODELS) * CELLS_PER_MODEL
    assert len({r.tags[CELL_TAG] for r in cells}) == len(cells)
    assert {r.status for r in cells} == {"FINISHED"}
    per_model = {m: sum(r.params.get("model") == m for r in cells) for m in GRID_MODELS}
    assert per_model == dict.fromkeys(GRID_MODELS, CELLS_PER_MODEL)
    others = [r for r in runs if not r.tags.get(CELL_TAG)]
    assert [r.tags.get(KIND_TAG) for r in others] == ["summary"]


@END_TO_END
def test_the_experiment_records_the_rubric_the_dag_was_given(dag_run, mlflow_client):
    """The ``rubric`` param reaches every collect task as ``--rubric`` and the experiment."""
    from tipbench_lib.core.rubric import shipped_rubric
    from tipbench_lib.tracking.mapping import RUBRIC_HASH_TAG, RUBRIC_TAG

    assert dag_run.conf["rubric"] == "tip-v1"
    tags = mlflow_client.get_experiment_by_name(dag_run.experiment).tags
    assert tags[RUBRIC_TAG] == "tip-v1"
    assert tags[RUBRIC_HASH_TAG] == shipped_rubric().content_hash


@END_TO_END
def test_no_host_ever_holds_two_models(dag_run):
    for name, host in dag_run.hosts.items():
        assert peak_resident(host.events) == 1, (name, host.events)
        assert host.max_resident == 1, name


def peak_resident(events: list[Event]) -> int:
    """Replay a server's loads and unloads: the most models it held at one moment."""
    resident: set[str] = set()
    peak = 0
    for event in sorted(events, key=lambda e: e.t):
        if event.kind == "load":
            resident.add(event.model)
        elif event.kind == "unload":
            resident.discard(event.model)
        peak = max(peak, len(resident))
    return peak


@END_TO_END
def test_each_model_runs_on_the_one_host_the_plan_gave_it(dag_run):
    """Biggest first to the least-loaded host that has it: host B lacks gen-c, so A gets a and c,
    B gets b and d. Each host generated only its own models' tips, and the judge ran on A."""
    served = {
        name: {span.model for span in host.generation_spans()}
        for name, host in dag_run.hosts.items()
    }
    assert served == {"A": {"gen-a:1b", "gen-c:1b", JUDGE}, "B": {"gen-b:1b", "gen-d:1b"}}
    labels = {ti.label for ti in collect_tis(dag_run)}
    urls = {name: host.url for name, host in dag_run.hosts.items()}
    assert labels == {
        f"gen-a:1b @ {urls['A']}",
        f"gen-c:1b @ {urls['A']}",
        f"gen-b:1b @ {urls['B']}",
        f"gen-d:1b @ {urls['B']}",
    }
    for ti in collect_tis(dag_run):
        if ti.label:
            lane = 0 if urls["A"] in ti.label else 1
            assert ti.task_id == f"collect_host_{lane}" and ti.pool == f"tipbench_host_{lane}"
    untouched = {"gen-b:1b": "B", "gen-c:1b": "A"}  # neither killed nor faulted: loaded once
    for model, name in untouched.items():
        assert dag_run.hosts[name].load_count(model) == 1, model


@END_TO_END
def test_both_hosts_generate_at_the_same_time(dag_run):
    """The lanes run side by side: some generation on host B starts before one on host A ends,
    and the other way round. Events in order, never seconds of overlap (a busy machine stretches
    every span; issue 17, finding 9). Both stand-ins run in this process, so their times come
    from one monotonic clock."""
    a, b = (dag_run.hosts[n].generation_spans() for n in ("A", "B"))
    assert a and b
    assert any(overlapping(x, y) for x in a for y in b), (a, b)


def overlapping(x: GenerationSpan, y: GenerationSpan) -> bool:
    """Whether each started before the other ended: they ran at one moment."""
    return y.start < x.end and x.start < y.end


@END_TO_END
def test_a_killed_collect_task_is_retried_and_completes_only_what_was_missing(dag_run):
    kill = dag_run.kill
    assert not kill.error, kill.error
    assert kill.task_pid and kill.tipbench_gone, "tipbench outlived its killed task process"
    killed = [ti for ti in collect_tis(dag_run) if ti.label and ti.label.startswith(KILLED_MODEL)]
    assert [(ti.state, ti.try_number) for ti in killed] == [("success", 2)]
    # Tips already journalled were not generated again: at most the one in flight is redone.
    needed = CELLS_PER_MODEL * N_TIPS
    generated = len(dag_run.hosts["A"].generation_spans(KILLED_MODEL))
    assert needed <= generated <= needed + 1, (generated, kill.generations_before)


@END_TO_END
def test_a_cell_failed_by_its_host_is_run_again_by_the_task_retry(dag_run, mlflow_client):
    faulty = [ti for ti in collect_tis(dag_run) if ti.label and ti.label.startswith(FAULTY_MODEL)]
    assert [(ti.state, ti.try_number) for ti in faulty] == [("success", 2)]
    exp = mlflow_client.get_experiment_by_name(dag_run.experiment)
    runs = [
        r
        for r in mlflow_client.search_runs([exp.experiment_id])
        if r.params.get("model") == FAULTY_MODEL
    ]
    assert len(runs) == CELLS_PER_MODEL and {r.status for r in runs} == {"FINISHED"}


@END_TO_END
def test_compare_writes_the_report_and_logs_the_summary_run(dag_run, mlflow_client):
    exp = mlflow_client.get_experiment_by_name(dag_run.experiment)
    summary = find_summary_run(mlflow_client, exp.experiment_id)
    assert summary is not None and summary.status == "FINISHED"
    listed = {f.path for f in mlflow_client.list_artifacts(summary.run_id)}
    assert listed == set(SUMMARY_FILES)
    for name in SUMMARY_FILES:
        local = (dag_run.report_dir / name).read_bytes()
        assert mlflow_client.download_artifact(summary.run_id, name) == local, name
    data = load_experiment(mlflow_client, dag_run.experiment)
    assert data.cells.height == len(GRID_MODELS) * CELLS_PER_MODEL
    assert summary.run_id not in data.run_ids.values()


@END_TO_END
def test_every_process_airflow_started_is_gone_after_it_stops(dag_run):
    """Scheduler, API server, DAG processor, their workers, task processes and tipbench."""
    assert dag_run.leftover == []


# -- a run a collect would refuse fails in the plan, before anything collects -------------------

OVERSIZED = "huge:8b"


@pytest.mark.timeout(900)
def test_a_model_over_the_limit_fails_the_plan_and_nothing_collects(
    mlflow_server, mlflow_client, tmp_path
):
    """Issue 23, finding 3: an 8B model was refused only inside its own collect task, after the
    other models had collected. Now the plan task runs every check a collect makes (``tipbench
    collect --plan-hosts``): it fails for good (no retry can help), no collect task starts, no
    host loads or generates anything, and the experiment is not even created."""
    experiment = f"airflow-refused-{uuid.uuid4().hex[:8]}"
    big = FakeModel(OVERSIZED, 8_000_000_000)
    hosts = [OllamaStandIn([*host_models(), big]).start() for _ in range(2)]
    airflow = LocalAirflow(
        tmp_path / "airflow",
        lanes=2,
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "TIPBENCH_AIRFLOW_HOME": str(tmp_path / "work"),
            "TIPBENCH_AIRFLOW_RETRY_DELAY_S": "1",
        },
    )
    conf = {
        "experiment": experiment,
        "models": ["gen-a:1b", OVERSIZED, "gen-b:1b"],
        "prompts": ["v1"],
        "scenarios": "1",
        "n_tips": 1,
        "hosts": [h.url for h in hosts],
    }
    try:
        with airflow:
            airflow.wait_for_dag()
            airflow.trigger(conf, run_id="refused")
            state = airflow.wait_for_run("refused", timeout=600)
            tis = {(ti.task_id, ti.map_index): ti for ti in airflow.task_instances("refused")}
            logs = airflow.logs()
            plan_log = "\n".join(
                p.read_text(errors="replace")
                for p in (tmp_path / "airflow" / "logs").rglob("*.log")
                if "task_id=plan" in str(p)
            )
    finally:
        for host in hosts:
            host.stop()
    assert state == "failed", logs
    plan = tis[("plan", -1)]
    assert (plan.state, plan.try_number) == ("failed", 1), "refused: never retried"
    assert "huge:8b has 8,000,000,000 parameters" in plan_log, plan_log[-3000:]
    others = {key: ti.state for key, ti in tis.items() if key[0] != "plan"}
    assert set(others.values()) == {"upstream_failed"}, others  # none ran, none was mapped
    assert ("compare", -1) in others and ("collect_host_1", -1) in others
    for host in hosts:
        assert not host.loads() and not host.generation_requests()
    assert mlflow_client.get_experiment_by_name(experiment) is None
