"""Sending journalled cells to MLflow: one run per cell, idempotent, safe to interrupt.

A cell's run is found by its ``tipbench.cell_id`` tag and reused, never duplicated: a run left
RUNNING by a ``kill -9`` mid-delivery is completed on the next run, a FAILED cell that succeeds on
``--retry-failed`` becomes FINISHED. Params are derived from the cell id's inputs, so re-logging
them sends the same values, which MLflow accepts. What goes where in MLflow (names, tags, the
four requests a new cell costs) is :mod:`tipbench_lib.tracking.mapping`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from tipbench_lib.collect.journal import CollectState
from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.records import Candidate, CellRecord
from tipbench_lib.tracking.client import MlflowClient, Run
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    COUNT_TAG,
    FAILURE_TAG,
    MAX_FAILURE_CHARS,
    N_TIPS_TAG,
    PENDING_TAG,
    candidates_document,
    cell_metrics,
)


@dataclass
class SyncReport:
    """What reached MLflow in this delivery and what stays in the journal for the next run."""

    delivered: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    error: str = ""

    def lines(self) -> list[str]:
        if not self.undelivered:
            return []
        return [
            f"  {len(self.undelivered)} cell(s) are safe in the journal but not yet in MLflow "
            f"({self.error}); run the same command again to deliver them"
        ]


@dataclass(frozen=True)
class Delivery:
    """A snapshot of one cell as the journal has it, taken before handing it to another thread."""

    cell: CellRecord
    candidates: tuple[Candidate, ...]
    status: str
    reason: str


def deliveries(state: CollectState, only: Iterable[str] | None = None) -> list[Delivery]:
    """The cells that are settled (complete or failed) and so ready for MLflow."""
    ids = state.cells if only is None else [c for c in only if c in state.cells]
    out = []
    for cell_id in ids:
        cell = state.cells[cell_id]
        status, reason = _desired_status(state, cell)
        if status is not None:
            out.append(Delivery(cell, tuple(state.candidate_list(cell_id)), status, reason))
    return out


class CellSyncer:
    """Delivers cells from the journal state to one MLflow experiment."""

    def __init__(self, client: MlflowClient, experiment_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self._runs: dict[str, Run] | None = None
        self.offline_error = ""

    def runs_by_cell(self) -> dict[str, Run]:
        """One search for the whole experiment instead of one per cell.

        A cell can have a second run only if a retried ``create_run`` reached the server twice;
        the better run is kept and the other deleted, so each cell stays exactly one run.
        """
        if self._runs is None:
            self._runs = {}
            extras = []
            for run in self.client.search_runs([self.experiment_id]):
                cid = run.tags.get(CELL_TAG)
                if not cid:
                    continue
                kept = self._runs.get(cid)
                if kept is None or _rank(run) > _rank(kept):
                    self._runs[cid] = run
                    run, kept = kept, run
                if run is not None:
                    extras.append(run)
            for run in extras:
                self.client.update_run(run.run_id, "KILLED")
                self.client.delete_run(run.run_id)
        return self._runs

    def deliver(self, state: CollectState, only: Iterable[str] | None = None) -> SyncReport:
        """Send every finished or failed cell that MLflow lacks; never raises on an outage."""
        return self.send(deliveries(state, only))

    def send(self, items: Iterable[Delivery]) -> SyncReport:
        """Deliver in order; after the first outage the rest are kept for the next run."""
        report = SyncReport()
        for item in items:
            cell_id = item.cell.cell_id
            if self.offline_error:
                report.undelivered.append(cell_id)
                continue
            try:
                if self._is_delivered(cell_id, item.status, len(item.candidates)):
                    continue
                self._deliver_cell(item.cell, list(item.candidates), item.status, item.reason)
                report.delivered.append(cell_id)
            except TrackingError as exc:
                self.offline_error = str(exc).splitlines()[0]
                report.undelivered.append(cell_id)
        report.error = self.offline_error
        return report

    def _is_delivered(self, cell_id: str, status: str, n_candidates: int) -> bool:
        run = self.runs_by_cell().get(cell_id)
        return (
            run is not None
            and run.status == status
            and run.tags.get(COUNT_TAG) == str(n_candidates)
        )

    def _deliver_cell(
        self, cell: CellRecord, candidates: list[Candidate], status: str, reason: str
    ) -> None:
        tags = {
            CELL_TAG: cell.cell_id,
            COUNT_TAG: str(len(candidates)),
            N_TIPS_TAG: str(cell.n_tips),
        }
        run = self.runs_by_cell().get(cell.cell_id)
        if run is None:
            run = self.client.create_run(
                self.experiment_id,
                cell.run_name,
                start_time_ms=_start_ms(candidates),
                tags={CELL_TAG: cell.cell_id, PENDING_TAG: "true"},
            )
            self.runs_by_cell()[cell.cell_id] = run
        document = candidates_document(cell.prompt_text, candidates)
        self.client.log_artifact(run.run_id, CANDIDATES_ARTIFACT, document)
        if reason:
            tags[FAILURE_TAG] = reason[:MAX_FAILURE_CHARS]
        elif run.tags.get(FAILURE_TAG):
            tags[FAILURE_TAG] = ""
        # MLflow params are write-once; a reused run keeps the values it was first given.
        params = {k: v for k, v in cell.params.items() if k not in run.params}
        self.client.log_batch(
            run.run_id, params=params, metrics=cell_metrics(candidates), tags=tags
        )
        self.client.update_run(run.run_id, status, end_time_ms=int(time.time() * 1000))
        self.runs_by_cell()[cell.cell_id] = replace(
            run, status=status, params={**run.params, **params}, tags={**run.tags, **tags}
        )


def _desired_status(state: CollectState, cell: CellRecord) -> tuple[str | None, str]:
    """FINISHED for a complete cell, FAILED for an open failure, None for work still to do."""
    if state.is_complete(cell.cell_id):
        return "FINISHED", ""
    if cell.cell_id in state.failures:
        return "FAILED", state.failures[cell.cell_id]
    return None, ""


def _rank(run: Run) -> tuple[int, int]:
    """Prefer a FINISHED run, then the newest, if a cell somehow has several."""
    return (1 if run.status == "FINISHED" else 0, run.start_time or 0)


def _start_ms(candidates: list[Candidate]) -> int | None:
    stamps = [c.created_at for c in candidates if c.created_at]
    if not stamps:
        return None
    return int(datetime.fromisoformat(min(stamps)).timestamp() * 1000)


class BackgroundSender:
    """Sends deliveries on one worker thread so MLflow's round trips overlap with generation.

    The journal already holds everything, so the worker can lag or die with the process without
    losing anything; :meth:`close` waits for it and reports what it did.
    """

    def __init__(self, syncer: CellSyncer) -> None:
        self.syncer = syncer
        self.report = SyncReport()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="tipbench-mlflow", daemon=True)
        self.syncer.runs_by_cell()  # one search up front, from the caller's thread
        self._thread.start()

    def submit(self, items: Iterable[Delivery]) -> None:
        for item in items:
            self._queue.put(item)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            partial = self.syncer.send([item])
            self.report.delivered += partial.delivered
            self.report.undelivered += partial.undelivered
            self.report.error = partial.error or self.report.error

    def close(self) -> SyncReport:
        self._queue.put(None)
        self._thread.join()
        return self.report
