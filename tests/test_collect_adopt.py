"""A collect retried on another worker (or after ``.tipbench/`` was deleted) adopts what MLflow
holds: the cells another attempt finished are neither generated again nor given new candidates.

Two stand-ins play two GPU hosts with the same models: the second answers every seed with other
text, as another GPU may, so a cell generated again would get new candidate ids and orphan the
judgments made against the old ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.core.errors import EXIT_INTERRUPTED, EXIT_OK, TrackingError
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import CELL_TAG, read_cell_artifact

from .ollama_standin import FakeModel, Fault, OllamaStandIn

FIRST_GPU = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Block 25 minutes for the budget draft now.",)),
    FakeModel("tiny-b", 2_000_000_000, texts=("Answer the two urgent emails before lunch.",)),
]
OTHER_GPU = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Close every tab but the one you work in.",)),
    FakeModel("tiny-b", 2_000_000_000, texts=("Stand up and stretch for two minutes.",)),
]
GRID = ["--backend", "ollama", "--models", "tiny-a,tiny-b", "--prompts", "v1,v2-mentor"]
GRID += ["--scenarios", "3", "--n-tips", "2", "--max-tokens", "16", "--timeout", "10"]
N_CELLS = 2 * 2 * 3


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, mlflow_server: str, tmp_path: Path):
    """Run the collect command as a worker with its own (initially empty) TIPBENCH_HOME."""
    for key in [k for k in __import__("os").environ if k.startswith("MLFLOW_TRACKING_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)

    def run(home: str, standin: OllamaStandIn, experiment: str, *extra: str) -> int:
        monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / home))
        monkeypatch.setenv("OLLAMA_HOST", standin.url)
        return collect_main([*GRID, "--experiment", experiment, *extra])

    return run


def candidate_ids(client: MlflowClient, experiment: str) -> dict[str, list[str]]:
    """cell id → its candidates' ids, for every FINISHED cell run (one run per cell asserted)."""
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]
    cells = [r.tags[CELL_TAG] for r in runs]
    assert len(cells) == len(set(cells)), "a cell has two runs"
    return {
        r.tags[CELL_TAG]: [c.candidate_id for c in read_cell_artifact(client, r).candidates]
        for r in runs
        if r.status == "FINISHED"
    }


def journal_records(home: Path) -> list[dict]:
    [path] = home.glob("journal/*/collect.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_a_retry_on_another_worker_generates_only_what_mlflow_lacks(
    worker, mlflow_client, experiment_name, tmp_path, capsys
):
    with OllamaStandIn(FIRST_GPU, load_s=0.01, gen_s=0.005) as first:
        # tiny-a's six cells finish; the host dies two tokens into tiny-b's first tip.
        first.set_fault("tiny-b", Fault("crash", after_chunks=2, times=1))
        assert worker("worker-1", first, experiment_name) == EXIT_INTERRUPTED
    finished = candidate_ids(mlflow_client, experiment_name)
    assert len(finished) == 6
    capsys.readouterr()

    with OllamaStandIn(OTHER_GPU, load_s=0.01, gen_s=0.005) as other:
        code = worker("worker-2", other, experiment_name)
        out = capsys.readouterr().out
        assert code == EXIT_OK, out
        asked = {str(body["model"]) for body in other.generation_requests()}
        assert asked == {"tiny-b"}, "a finished cell was generated again"
        assert other.load_count("tiny-a") == 0
        assert len(other.generation_requests()) == 6 * 2
    assert "6 already complete (skipped) (6 taken from MLflow)" in out, out

    after = candidate_ids(mlflow_client, experiment_name)
    assert len(after) == N_CELLS
    assert {cid: after[cid] for cid in finished} == finished, "candidate ids changed"

    records = journal_records(tmp_path / "worker-2")
    adopted = {r["cell_id"] for r in records if r["type"] == "adopted"}
    assert adopted == set(finished)
    last_adopted = max(i for i, r in enumerate(records) if r["type"] == "adopted")
    first_made = min(
        i for i, r in enumerate(records) if r["type"] == "candidate" and r["cell_id"] not in adopted
    )
    assert last_adopted < first_made, "adoption is journalled before anything is generated"

    # A third worker finds everything in MLflow: it loads nothing and generates nothing.
    with OllamaStandIn(OTHER_GPU, load_s=0.01, gen_s=0.005) as third:
        assert worker("worker-3", third, experiment_name) == EXIT_OK
        assert third.generation_requests() == [] and third.loads() == []
    assert candidate_ids(mlflow_client, experiment_name) == after


def test_mlflow_wins_over_a_partial_journal_and_an_unreadable_run_is_generated(
    worker, mlflow_client, experiment_name, tmp_path, capsys
):
    with OllamaStandIn(FIRST_GPU, load_s=0.01, gen_s=0.005) as first:
        assert worker("worker-1", first, experiment_name, "--n-tips", "1") == EXIT_OK
    one_tip = candidate_ids(mlflow_client, experiment_name)
    with OllamaStandIn(FIRST_GPU, load_s=0.01, gen_s=0.005) as first:
        assert worker("worker-2", first, experiment_name) == EXIT_OK  # now 2 tips a cell
    finished = candidate_ids(mlflow_client, experiment_name)
    assert all(finished[c][:1] == one_tip[c] for c in finished)

    # worker-1's journal holds one tip a cell; MLflow holds two: the second is taken, not made.
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    runs = [r for r in mlflow_client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]
    broken = runs[0]
    mlflow_client.log_artifact(broken.run_id, "candidates.json", "not json")
    capsys.readouterr()
    with OllamaStandIn(OTHER_GPU, load_s=0.01, gen_s=0.005) as other:
        code = worker("worker-1", other, experiment_name)
        out = capsys.readouterr().out
        assert code == EXIT_OK, out
        assert len(other.generation_requests()) == 1, "only the unreadable cell's second tip"
    assert "11 taken from MLflow" in out and f"ignored MLflow run {broken.run_id}" in out, out
    state = journal_records(tmp_path / "worker-1")
    adopted = {r["cell_id"] for r in state if r["type"] == "adopted"}
    assert adopted == set(finished) - {broken.tags[CELL_TAG]}


def test_mlflow_gone_while_adopting_stops_before_generating_anything(
    worker, mlflow_client, experiment_name, monkeypatch, capsys
):
    with OllamaStandIn(FIRST_GPU, load_s=0.01, gen_s=0.005) as first:
        assert worker("worker-1", first, experiment_name) == EXIT_OK
    before = candidate_ids(mlflow_client, experiment_name)

    def gone(self, run_id, path, max_bytes=None):
        raise TrackingError(f"cannot reach MLflow at {self.base_url}: connection refused")

    capsys.readouterr()
    with OllamaStandIn(OTHER_GPU, load_s=0.01, gen_s=0.005) as other, monkeypatch.context() as m:
        m.setattr(MlflowClient, "download_artifact", gone)
        code = worker("worker-2", other, experiment_name)
        out = capsys.readouterr().out
        assert other.generation_requests() == [] and other.loads() == []
    assert code == EXIT_INTERRUPTED, out
    assert "MLflow stopped answering" in out and "run the same command again" in out, out
    assert candidate_ids(mlflow_client, experiment_name) == before
