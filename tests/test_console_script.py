"""The ``tipbench`` console script end to end, one subprocess per call, as a user or cron runs it.

Collect and the LLM judge run against the Ollama stand-in (the embedded models have tests of their
own), judging and comparing against the session's real MLflow server; every subcommand's help,
exit statuses and messages are what a scheduler sees. The same arguments through
``python notebooks/<phase>.py`` give the same statuses (``tests/test_scripts.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tipbench_lib.cli import COMMANDS
from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED

from .ollama_standin import FakeModel, OllamaStandIn

TIPBENCH = Path(sys.executable).parent / "tipbench"
VALID = json.dumps(
    {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": True, "overlong": False}
)
MODELS = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Block 25 minutes for the budget draft now.",)),
    FakeModel("judge-ok", 1_000_000_000, json_text=VALID),
]


def tipbench(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300):
    return subprocess.run(
        [str(TIPBENCH), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(mlflow_env):
    return {**mlflow_env, "OLLAMA_HOST": "http://127.0.0.1:9"}  # nothing listens there


def test_help_lists_every_command_and_each_command_has_its_own(env, tmp_path):
    top = tipbench("--help", env=env, cwd=tmp_path)
    assert top.returncode == EXIT_OK, top.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in top.stdout, name
        own = tipbench(name, "--help", env=env, cwd=tmp_path)
        assert own.returncode == EXIT_OK, own.stderr
        assert own.stdout.startswith(f"usage: tipbench {name} "), own.stdout[:200]
    assert "Exit status" in top.stdout
    unknown = tipbench("colect", env=env, cwd=tmp_path)
    assert unknown.returncode == EXIT_REFUSED
    assert "unknown command 'colect'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert tipbench("--version", env=env, cwd=tmp_path).stdout.startswith("tipbench ")


def test_collect_judge_compare_through_the_console_script(env, experiment_name, tmp_path):
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.0) as standin:
        env = {**env, "OLLAMA_HOST": standin.url}
        grid = ["--experiment", experiment_name, "--backend", "ollama", "--models", "tiny-a"]
        grid += ["--prompts", "v1", "--scenarios", "2", "--n-tips", "2", "--max-tokens", "16"]
        collected = tipbench("collect", *grid, env=env, cwd=tmp_path)
        assert collected.returncode == EXIT_OK, collected.stderr[-3000:]
        assert "cells: 2 done, 0 failed" in collected.stdout
        again = tipbench("collect", *grid, env=env, cwd=tmp_path)
        assert again.returncode == EXIT_OK and "2 already complete" in again.stdout

        refused = tipbench("collect", *grid, "--n-tips", "0", env=env, cwd=tmp_path)
        assert refused.returncode == EXIT_REFUSED
        assert "tipbench: refused: --n-tips must be at least 1" in refused.stderr

        # Nothing judged yet: status says so and what to do; compare still refuses, saying why.
        status = ["status", "--experiment", experiment_name]
        unjudged = tipbench(*status, env=env, cwd=tmp_path)
        assert unjudged.returncode == EXIT_OK, unjudged.stderr
        assert json.loads(unjudged.stdout) == {
            "experiment": experiment_name,
            "cells": 2,
            "candidates": 4,
            "judged_candidates": 0,
            "judges": [],
            "pairwise_judgments": 0,
            "judged_pairs": 0,
            "pair_judges": [],
        }
        assert "tipbench: nothing judged yet" in unjudged.stderr
        assert f"tipbench judge --experiment {experiment_name} --llm-judge" in unjudged.stderr
        early = tipbench("compare", *status[1:], "--out", "early", env=env, cwd=tmp_path)
        assert early.returncode == EXIT_REFUSED
        assert "tipbench: refused: no judged candidates to report on" in early.stderr

        export = tmp_path / "to-judge.json"
        judge = ["judge", "--experiment", experiment_name]
        exported = tipbench(*judge, "--export", str(export), env=env, cwd=tmp_path)
        assert exported.returncode == EXIT_OK, exported.stderr
        doc = json.loads(export.read_text(encoding="utf-8"))
        assert len(doc["items"]) == 4
        for item in doc["items"][:2]:
            item["scores"] = json.loads(VALID)
        export.write_text(json.dumps(doc), encoding="utf-8")
        applied = tipbench(
            *judge, "--apply", str(export), "--judge-id", "ana", env=env, cwd=tmp_path
        )
        assert applied.returncode == EXIT_OK, applied.stderr
        assert "applied 2 judgment(s) by 'ana'" in applied.stdout

        llm = ["--llm-judge", "judge-ok", "--backend", "ollama"]
        judged = tipbench(*judge, *llm, env=env, cwd=tmp_path)
        assert judged.returncode == EXIT_OK, judged.stderr[-3000:]
        assert "LLM judge llm:judge-ok: 4 scored, 0 failed" in judged.stdout
        after = tipbench(*status, env=env, cwd=tmp_path)
        assert after.returncode == EXIT_OK and "nothing judged" not in after.stderr
        found = json.loads(after.stdout)
        assert found["judged_candidates"] == 4 and "ana" in found["judges"], found
        assert len(found["judges"]) == 2, found

    out = tmp_path / "report"
    compared = tipbench(
        "compare", "--experiment", experiment_name, "--out", str(out), "--view", "all", env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert compared.returncode == EXIT_OK, compared.stderr[-3000:]
    assert (out / "report.html").is_file() and (out / "leaderboard.csv").is_file()

    sample = tipbench("compare", "--sample", "--out", "s", env=env, cwd=tmp_path)
    assert sample.returncode == EXIT_OK, sample.stderr[-3000:]
    assert (tmp_path / "s" / "report.html").is_file()
    nothing = tipbench("compare", "--out", "x", env=env, cwd=tmp_path)
    assert nothing.returncode == EXIT_REFUSED
    assert "tipbench: refused: give --experiment NAME, --data DIR or --sample" in nothing.stderr


def test_mlflow_ui_serves_until_interrupted(env, tmp_path):
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}  # the embedded server
    proc = subprocess.Popen(
        [str(TIPBENCH), "mlflow-ui"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("MLflow UI: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == EXIT_OK
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the keeper stops the server once its last user left
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the embedded MLflow server outlived `tipbench mlflow-ui`")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the demo's own bound below must come first, with its output
def test_demo_runs_the_whole_job_on_the_embedded_models(env, experiment_name, tmp_path):
    out = tmp_path / "demo"
    args = ["--experiment", experiment_name, "--out", str(out), "--scenarios", "1", "--n-tips", "1"]
    demo = tipbench("demo", *args, env=env, cwd=tmp_path, timeout=1500)
    assert demo.returncode == EXIT_OK, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert f"Report: {out / 'report.html'}" in demo.stdout
    assert (out / "report.html").is_file()
    for step in ("collect", "judge", "compare"):
        assert f"== {step}: tipbench {step} " in demo.stdout


def test_the_console_script_is_installed_where_python_is():
    assert os.access(TIPBENCH, os.X_OK), f"{TIPBENCH}: run `make install` (pip install -e .)"
