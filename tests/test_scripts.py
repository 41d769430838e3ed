"""The three notebooks as scripts, end to end, on the real embedded models and a real MLflow.

This is the cron/Airflow path: collect → LLM judge → export/apply → compare, with the exit
statuses and messages a scheduler sees.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tipbench_lib.core.paths import SHIPPED_DATA

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(notebook: str, *args: str, env: dict[str, str], timeout: float = 900):
    return subprocess.run(
        [sys.executable, str(ROOT / "notebooks" / f"{notebook}.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture()
def env(mlflow_env):
    return {**mlflow_env, "OLLAMA_HOST": "http://127.0.0.1:9"}  # nothing listens there


def test_collect_refusals_exit_2_before_loading_anything(env, experiment_name):
    cases = {
        ("--models", "gemma3-270m", "--max-model-b", "0.2"): "above the --max-model-b limit",
        ("--models", "no-such-model"): "no-such-model",
        ("--models", "smollm2-135m", "--prompts", "v9"): "v9",
        ("--models", "smollm2-135m", "--scenarios", "nobody-never"): "nobody-never",
        ("--models", "smollm2-135m", "--n-tips", "0"): "--n-tips",
    }
    for args, needle in cases.items():
        result = run(
            "collect", "--experiment", experiment_name, "--backend", "embedded", *args, env=env
        )
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    # No Ollama answering is a transport failure, not a bad request: 3, which a scheduler retries.
    ollama = run(
        "collect", "--experiment", experiment_name, "--backend", "ollama", "--models", "x", env=env
    )
    assert ollama.returncode == 3 and "ollama serve" in ollama.stderr, ollama.stderr


@pytest.mark.timeout(2700)
def test_collect_judge_compare_as_scripts(env, experiment_name, tmp_path):
    """Sized for a loaded 2-core machine (issue 17, finding 9: 900 s were not enough for 16 tips
    generated and LLM-judged on the embedded models): 2 models x 1 prompt x 2 scenarios x 2 tips,
    still two models to rank over two scenarios, and a per-test bound to match."""
    grid = (
        "--models",
        "smollm2-135m,gemma3-270m",
        "--prompts",
        "v1",
        "--scenarios",
        "2",
        "--n-tips",
        "2",
        "--max-tokens",
        "48",
    )
    collected = run(
        "collect", "--experiment", experiment_name, "--backend", "embedded", *grid, env=env
    )
    assert collected.returncode == 0, collected.stderr[-3000:]
    assert "4 done, 0 failed" in collected.stdout
    assert "using the embedded llama.cpp models" in collected.stderr

    again = run("collect", "--experiment", experiment_name, "--backend", "embedded", *grid, env=env)
    assert again.returncode == 0 and "4 already complete" in again.stdout

    # An outside judge: export, fill half of it, apply.
    export = tmp_path / "to-judge.json"
    exported = run("judge", "--experiment", experiment_name, "--export", str(export), env=env)
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(export.read_text(encoding="utf-8"))
    assert doc["format"] == "tipbench.judging/1" and len(doc["items"]) == 8
    assert "model" not in json.dumps(doc["items"][0])  # blind by default
    for item in doc["items"][:4]:
        item["scores"] = {
            "relevance": 4,
            "actionability": 3,
            "tone": 5,
            "format_ok": item["auto"]["format_ok"],
            "overlong": False,
        }
    export.write_text(json.dumps(doc), encoding="utf-8")
    applied = run(
        "judge",
        "--experiment",
        experiment_name,
        "--apply",
        str(export),
        "--judge-id",
        "outside-ana",
        env=env,
    )
    assert applied.returncode == 0, applied.stderr

    judged = run(
        "judge",
        "--experiment",
        experiment_name,
        "--backend",
        "embedded",
        "--llm-judge",
        "smollm2-135m",
        env=env,
    )
    assert judged.returncode in (0, 1), judged.stderr[-3000:]  # 1: some answers failed, recorded

    out = tmp_path / "report"
    compared = run(
        "compare",
        "--experiment",
        experiment_name,
        "--out",
        str(out),
        "--snapshot",
        str(tmp_path / "snap"),
        "--view",  # the person scored half the tips; mix everyone so both models are ranked
        "all",
        env=env,
    )
    assert compared.returncode == 0, compared.stderr[-3000:]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "outside-ana" in html and "llm:smollm2-135m" in html
    with open(out / "leaderboard.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"smollm2-135m", "gemma3-270m"}
    assert {"composite_mean", "composite_lo", "composite_hi", "relevance_mean"} <= set(rows[0])
    with open(out / "comparisons.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:12] == [
        "a_model",
        "a_prompt",
        "b_model",
        "b_prompt",
        "n_scenarios",
        "diff_mean",
        "diff_lo",
        "diff_hi",
        "p_wilcoxon",
        "p_permutation",
        "p_holm",
        "verdict",
    ]

    # The snapshot reproduces the same leaderboard offline.
    offline = run(
        "compare",
        "--data",
        str(tmp_path / "snap"),
        "--out",
        str(tmp_path / "off"),
        "--view",
        "all",
        env=env,
    )
    assert offline.returncode == 0, offline.stderr
    assert (tmp_path / "off" / "leaderboard.csv").read_text() == (
        out / "leaderboard.csv"
    ).read_text()


def test_compare_refuses_bad_arguments(env, tmp_path):
    assert run("compare", "--out", str(tmp_path), env=env).returncode == 2
    bad = run("compare", "--data", str(tmp_path / "missing"), "--out", str(tmp_path), env=env)
    assert bad.returncode == 2 and "cells.parquet" in bad.stderr
    sample = str(SHIPPED_DATA / "sample")
    view = run("compare", "--data", sample, "--out", str(tmp_path), "--view", "x", env=env)
    assert view.returncode == 2 and "no judge view 'x'" in view.stderr
    assert "llm:claude-assistant" in view.stderr and "Traceback" not in view.stderr
