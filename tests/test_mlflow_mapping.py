"""The MLflow layout of tracking/mapping.py against a real server: four requests a new cell, and
runs written before the prompt moved into ``candidates.json`` still load, judge and show it."""

from __future__ import annotations

import json

import httpx

from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.journal import CollectState
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.core.records import CellRecord
from tipbench_lib.judge.session import JudgeSession
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    LEGACY_PROMPT_ARTIFACT,
    PENDING_TAG,
    read_cell_artifact,
)

from .test_judge import collected_experiment, tip


class Requests:
    """Every HTTP request a client sends, by method and path."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.sent.append(f"{request.method} {request.url.path}")


def test_a_new_cell_costs_at_most_five_requests(mlflow_server, experiment_name, tipbench_home):
    """The claim (runs/create with the cell tag, one runs/search: docs/architecture.md, section
    5), the candidates' upload, one runs/log-batch and runs/update."""
    with MlflowClient(mlflow_server) as setup:
        state = collected_experiment(setup, experiment_name, models=("smollm2-135m",))
        experiment_id = setup.ensure_experiment(f"{experiment_name}-counted")
    requests = Requests()
    with MlflowClient(mlflow_server, event_hooks={"request": [requests]}) as client:
        syncer = CellSyncer(client, experiment_id)
        syncer.runs_by_cell()  # the one search a delivery starts with, for every cell at once
        before = len(requests.sent)
        report = syncer.deliver(state)
        per_cell = (len(requests.sent) - before) / len(report.delivered)
    assert len(report.delivered) == len(state.cells) == 2
    assert per_cell <= 5, requests.sent[before:]
    with MlflowClient(mlflow_server) as client:
        run = next(r for r in client.search_runs([experiment_id]) if r.tags.get(CELL_TAG))
        artifact = read_cell_artifact(client, run, prompt=True)
        assert artifact.prompt == "(test prompt)" and len(artifact.candidates) == 3
        assert [f.path for f in client.list_artifacts(run.run_id)] == [CANDIDATES_ARTIFACT]


def _old_layout_run(client: MlflowClient, experiment_id: str, cell: CellRecord, candidates) -> str:
    """A cell as deliveries before the merge wrote it: a bare list and a separate prompt.txt,
    candidates as format 1 held them (no ``format`` field)."""
    run = client.create_run(experiment_id, cell.run_name, tags={CELL_TAG: cell.cell_id})
    old = [{k: v for k, v in c.to_json().items() if k != "format"} for c in candidates]
    client.log_artifact(run.run_id, CANDIDATES_ARTIFACT, json.dumps(old, indent=1))
    client.log_artifact(run.run_id, LEGACY_PROMPT_ARTIFACT, "the old prompt")
    client.log_batch(run.run_id, params=cell.params, tags={PENDING_TAG: "true"})
    client.update_run(run.run_id, "FINISHED")
    return run.run_id


def test_runs_of_the_old_layout_still_load_judge_and_show_their_prompt(
    mlflow_client, experiment_name, tipbench_home
):
    source: CollectState = collected_experiment(
        mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1
    )
    experiment_id = mlflow_client.ensure_experiment(experiment_name)
    for delivered in mlflow_client.search_runs([experiment_id]):
        mlflow_client.delete_run(delivered.run_id)  # the cell as the old layout holds it instead
    [(cell_id, cell)] = source.cells.items()
    _old_layout_run(mlflow_client, experiment_id, cell, source.candidate_list(cell_id))

    data = load_experiment(mlflow_client, experiment_name)
    assert data.candidates.height == 3 and set(data.candidates["cell_id"]) == {cell_id}
    [run] = mlflow_client.search_runs([experiment_id])
    assert read_cell_artifact(mlflow_client, run, prompt=True).prompt == "the old prompt"
    assert read_cell_artifact(mlflow_client, run).prompt is None, "read only when asked for"

    session = JudgeSession(mlflow_client, experiment_name, "ana")
    card = session.next_card()
    assert card is not None
    saved = session.save(card.candidate_id, tip(4, 4, 4, True, False))
    assert saved.synced, saved.sync_error
    assert load_experiment(mlflow_client, experiment_name).judgments.height == 1
