"""The experiment-level summary run that ``compare --log-summary`` keeps in MLflow.

One run per experiment, tagged ``tipbench.kind=summary``, holding the latest report and tables;
the phases that read cells (results loading, the collect syncer) must never take it for a cell.
"""

from __future__ import annotations

import json

import pytest

from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.core.errors import TrackingError
from tipbench_lib.tracking.mapping import CELL_TAG
from tipbench_lib.tracking.summary import (
    KIND_TAG,
    SUMMARY_FILES,
    SUMMARY_KIND,
    find_summary_run,
    log_summary,
)

from .test_judge import collected_experiment


def write_outputs(folder, version: str):
    folder.mkdir(parents=True, exist_ok=True)
    for name in SUMMARY_FILES:
        (folder / name).write_text(f"{name} {version}\n", encoding="utf-8")
    return folder


def summary_runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(KIND_TAG)]


def test_results_load_ignores_the_summary_run(mlflow_client, experiment_name, tmp_path):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=2)
    before = load_experiment(mlflow_client, experiment_name)
    run = log_summary(mlflow_client, experiment_name, write_outputs(tmp_path / "out", "v1"))
    after = load_experiment(mlflow_client, experiment_name)
    assert after.cells.height == before.cells.height == 2 * 2
    assert after.candidates.height == before.candidates.height
    assert run.run_id not in after.run_ids.values()
    assert sorted(after.cells["cell_id"]) == sorted(before.cells["cell_id"])


def test_one_summary_run_per_experiment_holding_the_latest_outputs(
    mlflow_client, experiment_name, tmp_path
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1)
    first = log_summary(mlflow_client, experiment_name, write_outputs(tmp_path / "a", "first"))
    second = log_summary(mlflow_client, experiment_name, write_outputs(tmp_path / "b", "second"))
    assert second.run_id == first.run_id
    runs = summary_runs(mlflow_client, experiment_name)
    assert [(r.run_id, r.tags[KIND_TAG], r.status) for r in runs] == [
        (first.run_id, SUMMARY_KIND, "FINISHED")
    ]
    assert CELL_TAG not in runs[0].tags
    for name in SUMMARY_FILES:
        data = mlflow_client.download_artifact(first.run_id, name).decode()
        assert data == f"{name} second\n"


def test_the_collect_syncer_leaves_the_summary_run_alone(mlflow_client, experiment_name, tmp_path):
    """The syncer works on cell runs only; a run without a cell id is none of its business."""
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1)
    run = log_summary(mlflow_client, experiment_name, write_outputs(tmp_path / "out", "v1"))
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    syncer = CellSyncer(mlflow_client, exp.experiment_id)
    assert run.run_id not in {r.run_id for rs in syncer.runs_by_cell().values() for r in rs}
    assert find_summary_run(mlflow_client, exp.experiment_id).run_id == run.run_id
    assert mlflow_client.get_run(run.run_id).status == "FINISHED"


def test_log_summary_names_what_is_missing(mlflow_client, experiment_name, tmp_path):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1)
    out = write_outputs(tmp_path / "out", "v1")
    (out / "comparisons.csv").unlink()
    with pytest.raises(TrackingError, match="comparisons.csv"):
        log_summary(mlflow_client, experiment_name, out)
    assert summary_runs(mlflow_client, experiment_name) == []
    with pytest.raises(TrackingError, match="no experiment named"):
        log_summary(mlflow_client, f"{experiment_name}-never", write_outputs(tmp_path / "b", "x"))


def test_compare_refuses_log_summary_without_an_experiment_and_an_out_dir(tmp_path, capsys):
    assert compare_main(["--data", str(tmp_path), "--out", str(tmp_path), "--log-summary"]) == 2
    assert compare_main(["--experiment", "x", "--snapshot", str(tmp_path), "--log-summary"]) == 2
    err = capsys.readouterr().err
    assert err.count("--log-summary needs --experiment and --out") == 2


def test_compare_with_log_summary_writes_the_report_and_logs_the_same_files(
    mlflow_client, mlflow_server, experiment_name, tipbench_home, tmp_path, monkeypatch
):
    """What the Airflow DAG's compare task runs: the report from the analysis, then MLflow."""
    from tipbench_lib.judge.cli import main as judge_main

    from .test_judge_io import _export, _fill

    collected_experiment(mlflow_client, experiment_name, n_scenarios=2)
    exported = _export(mlflow_client, experiment_name, tmp_path / "judging.json")
    (tmp_path / "filled.json").write_text(json.dumps(_fill(exported)), encoding="utf-8")
    applied = judge_main(
        ["--experiment", experiment_name, "--apply", str(tmp_path / "filled.json")],
        client=mlflow_client,
    )
    assert applied == 0
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    out = tmp_path / "out"
    argv = ["--experiment", experiment_name, "--out", str(out), "--log-summary"]
    assert compare_main(argv) == 0
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "judged by people (outside)" in report and "verbosity slope" in report
    [run] = summary_runs(mlflow_client, experiment_name)
    for name in SUMMARY_FILES:
        assert mlflow_client.download_artifact(run.run_id, name) == (out / name).read_bytes()
    assert_headline_on_the_run(mlflow_client.get_run(run.run_id), out)
    kind = mlflow_client.get_experiment_by_name(experiment_name).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"  # MLflow 3 opens it on the runs, not "Traces"


def assert_headline_on_the_run(run, out) -> None:
    """The summary run reads as a leaderboard in MLflow's runs view (issue 22, finding 4)."""
    import csv

    with (out / "leaderboard.csv").open() as f:
        board = list(csv.DictReader(f))
    assert run.metrics["n_cells"] == len(board)
    for rank, row in enumerate(board, start=1):
        cell = f"{row['model']}:{row['prompt_version']}"
        assert run.metrics[f"composite/{cell}"] == round(float(row["composite_mean"]), 3)
        assert run.metrics[f"rank/{cell}"] == rank
    assert run.metrics["top_composite_mean"] == round(float(board[0]["composite_mean"]), 3)
    assert run.tags["top_cell"] and run.tags["verdict"] and run.tags["judges"]
    assert run.tags["headline"] in run.tags["mlflow.note.content"]
