"""Workers starting at once on a new experiment: its rubric record is written once, whole.

Two collect tasks of one DAG run start a few milliseconds apart on an experiment that does not
exist yet; both create it and record its rubric. A concurrent identical write is success (re-read
and compared), a concurrent other rubric is refused with both named, a write that meets another
half-way is retryable (exit 3), and the record is never left half of one rubric, half of the
other. Against the real MLflow server; the workers are threads released by one barrier.
"""

from __future__ import annotations

import threading

import pytest

from tipbench_lib.core.errors import (
    EXIT_INTERRUPTED,
    RetryableError,
    RubricConflict,
    exit_status,
)
from tipbench_lib.core.rubric import parse_rubric, shipped_rubric
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import experiment_rubric, record_rubric
from tipbench_lib.tracking.http import MlflowHttpError

from .rubric_files import BRIEF, BRIEF_TEXT

WORKERS = 6
ROUNDS = 4


def race(url: str, name: str, rubrics) -> list[object]:
    """``record_rubric`` by one thread per rubric, each with its own client, released at once."""
    barrier = threading.Barrier(len(rubrics))
    outcomes: list[object] = [None] * len(rubrics)

    def work(i: int) -> None:
        with MlflowClient(url) as client:
            barrier.wait()
            try:
                outcomes[i] = record_rubric(client, name, rubrics[i])
            except Exception as exc:  # the outcome is what the test looks at
                outcomes[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(rubrics))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_workers_creating_one_experiment_at_once_all_succeed_with_one_record(
    mlflow_server, mlflow_client, experiment_name
):
    tip = shipped_rubric()
    for round_ in range(ROUNDS):
        name = f"{experiment_name}-{round_}"
        outcomes = race(mlflow_server, name, [tip] * WORKERS)
        failed = [o for o in outcomes if isinstance(o, Exception)]
        assert not failed, failed
        assert len({eid for eid, _ in outcomes}) == 1
        assert {rubric.ref for _, rubric in outcomes} == {tip.ref}
        found = mlflow_client.get_experiment_by_name(name)
        assert experiment_rubric(mlflow_client, found)[0].ref == tip.ref


def test_another_rubric_at_once_is_refused_naming_both_and_the_record_is_whole(
    mlflow_server, mlflow_client, experiment_name
):
    tip, brief = shipped_rubric(), parse_rubric(BRIEF_TEXT, BRIEF, "test")
    for round_ in range(ROUNDS):
        name = f"{experiment_name}-{round_}"
        outcomes = race(mlflow_server, name, [tip, brief] * (WORKERS // 2))
        found = mlflow_client.get_experiment_by_name(name)
        recorded = experiment_rubric(mlflow_client, found)[0]  # its text matches its hash
        assert recorded.ref in (tip.ref, brief.ref)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                assert isinstance(outcome, RubricConflict), repr(outcome)
                assert recorded.version in str(outcome), outcome
            else:
                assert outcome[1].ref == recorded.ref


def test_an_experiment_made_outside_tipbench_is_recorded_once_by_racing_workers(
    mlflow_server, mlflow_client, experiment_name
):
    """No record yet, so the tags are written one by one: identical writes at once succeed."""
    tip = shipped_rubric()
    for round_ in range(ROUNDS):
        name = f"{experiment_name}-{round_}"
        mlflow_client.create_experiment(name)
        outcomes = race(mlflow_server, name, [tip] * WORKERS)
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        found = mlflow_client.get_experiment_by_name(name)
        assert experiment_rubric(mlflow_client, found)[0].ref == tip.ref


def test_a_write_that_meets_another_is_retryable_never_refused(
    mlflow_client, experiment_name, monkeypatch
):
    """MLflow's tag write reads then inserts: a twin insert answers 400 UNIQUE constraint."""
    mlflow_client.create_experiment(experiment_name)
    original = MlflowClient.set_experiment_tag
    met = []

    def twin_then_other(self, experiment_id, key, value):
        if not met:
            met.append(key)
            original(self, experiment_id, key, value + " (another writer's)")
            raise MlflowHttpError(
                "MLflow refused POST /api/2.0/mlflow/experiments/set-experiment-tag: BAD_REQUEST:"
                " (sqlite3.IntegrityError) UNIQUE constraint failed: experiment_tags.key",
                400,
                "BAD_REQUEST",
            )
        return original(self, experiment_id, key, value)

    monkeypatch.setattr(MlflowClient, "set_experiment_tag", twin_then_other)
    with pytest.raises(RetryableError) as raised:
        record_rubric(mlflow_client, experiment_name, shipped_rubric())
    assert exit_status(raised.value) == EXIT_INTERRUPTED
    assert "run the same command again" in str(raised.value)
