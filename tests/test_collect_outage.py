"""Outages and bad names in the script mode, as a scheduler sees them: exit status and output.

Ollama dying mid-stream is a transport failure, not a bad cell: the run stops, delivers what the
journal holds, prints its summary and exits 3; a plain rerun against the restarted server finishes
the grid with no duplicate runs. A model Ollama never unloads costs one wait, not two, and the
summary still comes. A name too long to store is refused (exit 2) before anything is created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipbench_lib.backends import ollama as ollama_backend
from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.collect.journal import CollectJournal
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED
from tipbench_lib.core.names import MAX_EXPERIMENT_CHARS
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import CELL_TAG, read_cell_artifact

from .ollama_standin import FakeModel, Fault, OllamaStandIn

MODELS = [FakeModel("tiny-a", 1_000_000_000), FakeModel("tiny-b", 2_000_000_000)]
N_TIPS = 2
N_CELLS = 2 * 2 * 3
GRID = [
    "--backend",
    "ollama",
    "--models",
    "tiny-a,tiny-b",
    "--prompts",
    "v1,v2-mentor",
    "--scenarios",
    "3",
    "--n-tips",
    str(N_TIPS),
    "--max-tokens",
    "16",
    "--timeout",
    "10",
]


@pytest.fixture
def scheduler_env(monkeypatch: pytest.MonkeyPatch, mlflow_server: str, tipbench_home: Path) -> Path:
    """The environment a cron job would have: the session's MLflow server, a private home."""
    for key in [k for k in __import__("os").environ if k.startswith("MLFLOW_TRACKING_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return tipbench_home


def run_collect(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    standin: OllamaStandIn,
    experiment: str,
    *extra: str,
) -> tuple[int, str, str]:
    monkeypatch.setenv("OLLAMA_HOST", standin.url)
    code = collect_main([*GRID, "--experiment", experiment, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cell_runs(client: MlflowClient, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]


def journal_kinds(home: Path) -> list[str]:
    lines = []
    for path in home.glob("journal/**/collect.jsonl"):
        lines += [json.loads(line)["type"] for line in path.read_text().splitlines() if line]
    return lines


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_ollama_killed_mid_stream_then_restarted_a_plain_rerun_completes(
    reset, scheduler_env, mlflow_client, experiment_name, capsys, monkeypatch
):
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.01) as standin:
        # tiny-a's six cells finish; Ollama dies two tokens into tiny-b's first tip.
        standin.set_fault("tiny-b", Fault("crash", after_chunks=2, reset=reset, times=1))
        code, out, err = run_collect(capsys, monkeypatch, standin, experiment_name)
        assert code == EXIT_INTERRUPTED, out + err
        assert "refused" not in err
        assert "cells: 6 done, 0 failed" in out, out
        assert "interrupted" in out and "run the same command again" in out, out
        assert "failure" not in journal_kinds(scheduler_env), "an outage is not a cell failure"
        runs = cell_runs(mlflow_client, experiment_name)
        assert len(runs) == 6 and {r.status for r in runs} == {"FINISHED"}

        standin.start()  # Ollama restarted on the same port
        code, out, err = run_collect(capsys, monkeypatch, standin, experiment_name)
        assert code == EXIT_OK, out + err
        assert "cells: 6 done, 0 failed, 6 already complete" in out, out
        assert standin.load_count("tiny-a") == 1, "the rerun must not redo finished work"

    runs = cell_runs(mlflow_client, experiment_name)
    by_cell: dict[str, int] = {}
    for run in runs:
        by_cell[run.tags[CELL_TAG]] = by_cell.get(run.tags[CELL_TAG], 0) + 1
    assert len(by_cell) == N_CELLS and set(by_cell.values()) == {1}, "a cell has two runs"
    assert {r.status for r in runs} == {"FINISHED"}
    for run in runs:
        candidates = read_cell_artifact(mlflow_client, run).candidates
        assert sorted(c.sample_index for c in candidates) == list(range(N_TIPS))


def test_ollama_gone_between_two_models_interrupts_the_next_ones_instead_of_failing_them(
    scheduler_env, mlflow_client, experiment_name
):
    request = CollectRequest(
        experiment=experiment_name,
        models=("tiny-a", "tiny-b"),
        prompts=("v1", "v2-mentor"),
        scenarios="3",
        n_tips=N_TIPS,
        options=GenerationOptions(max_tokens=16, timeout_s=10),
    )
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
        backend = OllamaBackend(standin.url, timeout=5)

        def die_after_the_first_model(event):
            if event.done == N_CELLS // 2 * N_TIPS:
                standin.crash()  # tiny-a's unload and tiny-b's load find nobody

        prepared = prepare(request, backend, mlflow_client)
        summary = run_prepared(prepared, backend, mlflow_client, die_after_the_first_model)
        assert summary.exit_code == EXIT_INTERRUPTED, summary.lines()
        assert len(summary.finished) == 6 and not summary.failed, summary.lines()
        assert len(summary.interrupted) == 6 and "ollama serve" in summary.stopped
        assert not CollectJournal(experiment_name).state().failures

        standin.start()
        again = run_prepared(prepare(request, backend, mlflow_client), backend, mlflow_client)
        assert again.exit_code == EXIT_OK, again.lines()
        assert len(again.finished) == 6 and len(again.skipped) == 6
        backend.close()
    runs = cell_runs(mlflow_client, experiment_name)
    assert len(runs) == N_CELLS and {r.status for r in runs} == {"FINISHED"}


def test_the_latest_outcome_of_a_cell_wins_in_the_journal(tipbench_home):
    """A failed cell retried with --retry-failed and then cut by an outage is interrupted (a plain
    rerun resumes it); one that then fails for real waits for --retry-failed again."""
    journal = CollectJournal("outcomes")
    journal.add_failure("c1", "oom: out of memory")
    journal.add_interruption("c1", "Ollama went away")
    state = CollectJournal("outcomes").state()  # as the next run reads it
    assert state.interrupted == {"c1": "Ollama went away"} and state.failures == {}
    journal.add_failure("c1", "timeout: too slow")
    state = CollectJournal("outcomes").state()
    assert state.failures == {"c1": "timeout: too slow"} and state.interrupted == {}
    journal.add_interruption("c1", "Ollama went away again")
    journal.clear_failure("c1")  # the cell completed
    state = CollectJournal("outcomes").state()
    assert state.failures == {} and state.interrupted == {}


def test_a_model_that_never_unloads_costs_one_wait_and_the_summary_still_comes(
    scheduler_env, mlflow_client, experiment_name, capsys, monkeypatch
):
    monkeypatch.setattr(ollama_backend, "UNLOAD_TIMEOUT_S", 0.3)
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
        standin.set_fault("tiny-a", Fault("stuck_unload"))
        code, out, err = run_collect(capsys, monkeypatch, standin, experiment_name)
        unloads = [
            r
            for r in standin.requests
            if (r["body"] or {}).get("keep_alive") == 0
            and str((r["body"] or {}).get("model", "")).startswith("tiny-a")
        ]
        assert len(unloads) == 1, "the unload that timed out was asked for again"
        assert standin.load_count("tiny-b") == 0 and standin.max_resident == 1
    assert code == EXIT_INTERRUPTED, out + err
    assert "refused" not in err
    assert "cells: 6 done, 0 failed" in out, out
    text = out + err
    assert text.count("still lists tiny-a:latest") == 1, text
    assert "ollama stop" in text
    assert len(cell_runs(mlflow_client, experiment_name)) == 6


def test_the_last_model_stuck_in_memory_is_a_warning_once_when_every_cell_is_done(
    scheduler_env, mlflow_client, experiment_name, capsys, monkeypatch
):
    monkeypatch.setattr(ollama_backend, "UNLOAD_TIMEOUT_S", 0.3)
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
        standin.set_fault("tiny-b", Fault("stuck_unload"))
        code, out, err = run_collect(capsys, monkeypatch, standin, experiment_name)
    assert code == EXIT_OK, out + err  # every cell is complete and in MLflow
    text = out + err
    assert "cells: 12 done, 0 failed" in out and "WARNING: " in out, text
    assert text.count("still lists tiny-b:latest") == 1 and "ollama stop" in text, text


@pytest.mark.parametrize("length", [MAX_EXPERIMENT_CHARS + 1, 300])
def test_a_too_long_experiment_name_is_refused_before_anything_is_created(
    length, scheduler_env, mlflow_client, capsys, monkeypatch
):
    name = "x" * length
    with OllamaStandIn(MODELS) as standin:
        code, out, err = run_collect(capsys, monkeypatch, standin, name)
        assert standin.loads() == []
    assert code == EXIT_REFUSED, out + err
    assert f"{length} characters" in err and str(MAX_EXPERIMENT_CHARS) in err, err
    assert "Traceback" not in err
    assert mlflow_client.get_experiment_by_name(name) is None
    assert not (scheduler_env / "journal").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--experiment", "tab\tname"), "control characters"),
        (("--experiment", "  "), "experiment name is empty"),
        (("--prompts", ","), "no prompt versions given"),
        (("--max-tokens", "0"), "--max-tokens must be at least 1"),
        (("--timeout", "0"), "--timeout must be more than 0"),
        (("--temperature", "-0.5"), "--temperature must be 0 or more"),
    ],
    ids=["control-char", "blank-name", "no-prompts", "max-tokens", "timeout", "temperature"],
)
def test_input_errors_are_named_and_refused_before_anything_is_created(
    extra, needle, scheduler_env, capsys, monkeypatch
):
    with OllamaStandIn(MODELS) as standin:
        code, out, err = run_collect(capsys, monkeypatch, standin, "probe", *extra)
        assert standin.loads() == []
    assert code == EXIT_REFUSED and needle in err, out + err
    assert "Traceback" not in err
    assert not (scheduler_env / "journal").exists()


def test_the_longest_allowed_experiment_name_runs(
    scheduler_env, mlflow_client, capsys, monkeypatch
):
    name = "é" * MAX_EXPERIMENT_CHARS  # two bytes each in UTF-8: the folder name must still fit
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
        code, out, err = run_collect(capsys, monkeypatch, standin, name, "--models", "tiny-a")
    assert code == EXIT_OK, out + err
    assert len(cell_runs(mlflow_client, name)) == 6


def test_exit_statuses_are_distinct_and_documented():
    import tipbench_lib.collect.cli as cli
    import tipbench_lib.core.errors as errors

    codes = {EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED}
    assert len(codes) == 4
    for code in codes:
        assert f"({code})" in (errors.__doc__ or ""), code
        assert f"{code} " in (cli.__doc__ or ""), code
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "interrupted" in readme and f"`{EXIT_INTERRUPTED}`" in readme
