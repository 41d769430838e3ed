"""Sending journalled cells to MLflow: each into its cell's one run, idempotent, safe to interrupt.

A cell is delivered into the run this worker won its claim with (:mod:`.claims`), or into the
cell's existing run when it has one (more tips for a finished cell, ``--retry-failed`` on a
failed one, a run a ``kill -9`` left RUNNING mid-delivery). A cell generated while MLflow did not
answer is claimed when it is delivered; if another worker holds it by then, it is not delivered
and the next run takes that worker's run into the journal instead. Params are derived from the
cell id's inputs, so re-logging them sends the same values, which MLflow accepts. A delivery
never deletes or kills a run, never turns a FINISHED run FAILED, and never rewrites the tips of a
finished run with other ones (judges saw those). What goes where in MLflow (names, tags, the
requests a new cell costs) is :mod:`tipbench_lib.tracking.mapping`.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tipbench_lib.collect.claims import LEASE_SLACK_S, Claim, Claims
from tipbench_lib.collect.journal import CollectState
from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.records import Candidate, CellRecord
from tipbench_lib.tracking.cellruns import Unverified, read_candidates, run_order, run_problem
from tipbench_lib.tracking.client import MlflowClient, Run
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    CLAIMANT_TAG,
    COUNT_TAG,
    DUPLICATE_TAG,
    FAILURE_TAG,
    MAX_FAILURE_CHARS,
    N_TIPS_TAG,
    candidates_document,
    cell_metrics,
)


@dataclass
class SyncReport:
    """What reached MLflow in this delivery and what stays in the journal for the next run."""

    delivered: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    error: str = ""
    held: dict[str, str] = field(default_factory=dict)
    """Cells not delivered because another worker holds them (cell → why), a subset of
    ``undelivered``: the next run takes that worker's run into the journal."""

    def lines(self) -> list[str]:
        out = []
        offline = len(self.undelivered) - len(self.held)
        if offline:
            out.append(
                f"  {offline} cell(s) are safe in the journal but not yet in MLflow "
                f"({self.error}); run the same command again to deliver them"
            )
        for reason in self.held.values():
            out.append(f"  not delivered, safe in the journal: {reason}")
        if self.held:
            out.append(
                "  run the same command again once the other worker is done: it takes its runs"
            )
        return out

    def add(self, other: SyncReport) -> None:
        self.delivered += other.delivered
        self.undelivered += other.undelivered
        self.held |= other.held
        self.error = other.error or self.error


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


class _Held(Exception):
    """Another worker holds the cell in MLflow, or its run holds other tips: not delivered."""


class CellSyncer:
    """Delivers cells from the journal state to one MLflow experiment (module doc)."""

    def __init__(
        self,
        client: MlflowClient,
        experiment_id: str,
        claims: Claims | None = None,
        *,
        experiment: str | None = None,
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.claims = claims or Claims(
            client, experiment_id, f"{uuid.uuid4().hex}@{socket.gethostname()}"
        )
        self._experiment = experiment
        self._runs: dict[str, list[Run]] | None = None
        self.targets: dict[str, Run] = {}
        """cell → the run this worker delivers it into (its won claim, or the cell's run)."""
        self._verified: dict[str, list[Candidate] | str] = {}
        self.offline_error = ""
        self._lock = threading.RLock()

    @property
    def experiment(self) -> str:
        """The experiment's name (the cell ids of its runs hash it)."""
        if self._experiment is None:
            self._experiment = self.client.get_experiment(self.experiment_id).name
        return self._experiment

    def runs_by_cell(self) -> dict[str, list[Run]]:
        """Every run carrying a cell tag, by cell: one search for the whole experiment, kept up
        to date with what this worker does and sees afterwards. Nothing is deleted."""
        with self._lock:
            if self._runs is None:
                runs: dict[str, list[Run]] = {}
                for run in self.client.search_runs([self.experiment_id]):
                    if run.tags.get(CELL_TAG):
                        runs.setdefault(run.tags[CELL_TAG], []).append(run)
                self._runs = runs
            return self._runs

    def runs_of(self, cell_id: str) -> list[Run]:
        with self._lock:
            return list(self.runs_by_cell().get(cell_id, []))

    def seen(self, cell_id: str, runs: Iterable[Run]) -> None:
        """The cell's runs as a fresh search found them."""
        with self._lock:
            self.runs_by_cell()[cell_id] = list(runs)

    def updated(self, run: Run) -> None:
        """A run of a cell changed (delivered, tagged): replace it in the view."""
        with self._lock:
            held = self.runs_by_cell().setdefault(run.tags[CELL_TAG], [])
            held[:] = [r for r in held if r.run_id != run.run_id] + [run]

    def settled(self, cell_id: str) -> Run | None:
        """The cell's own run in MLflow, if it has one a delivery may go into: its FINISHED run,
        else a FAILED one, else one a kill left RUNNING before runs were claimed. Each must be a
        cell run of this experiment (its params give its tag); when a cell has several FINISHED
        runs (a collect reconciles them first), the earliest whose candidates verify (a lone one
        is checked where it is read: adoption, more tips). Claims are not: a claim is its
        worker's until that worker delivers into it."""
        runs = [
            r
            for r in self.runs_of(cell_id)
            if not r.tags.get(DUPLICATE_TAG) and _own_run(r) and not self._problem(r)
        ]
        finished = sorted((r for r in runs if r.status == "FINISHED"), key=run_order)
        if len(finished) > 1:
            finished = [r for r in finished if self.verifies(r)]
        for found in (finished, *(_with(runs, s) for s in ("FAILED", "RUNNING"))):
            if found:
                return found[0]
        return None

    def verified_candidates(self, run: Run, expected: int | None = None) -> list[Candidate]:
        """The run's candidates by sample index, verified (:func:`read_candidates`); the verdict
        is kept, so a run is downloaded once per collect. Raises :class:`Unverified`."""
        with self._lock:
            known = self._verified.get(run.run_id)
        if isinstance(known, str):
            raise Unverified(known)
        if known is None:
            try:
                known = read_candidates(self.client, run, expected=expected).candidates
            except Unverified as exc:
                with self._lock:
                    self._verified[run.run_id] = str(exc)
                raise
            known = sorted(known, key=lambda c: c.sample_index)
            with self._lock:
                self._verified[run.run_id] = known
        return list(known)

    def verifies(self, run: Run) -> bool:
        try:
            self.verified_candidates(run)
        except Unverified:
            return False
        return True

    def _problem(self, run: Run) -> str:
        return run_problem(self.experiment, run)

    def target_for(self, claim: Claim) -> Run:
        """Where a cell whose claim was won is delivered: its own run (a FINISHED one only when
        its candidates verify: a stranger's run is never written into), else the claim."""
        assert claim.won and claim.run is not None
        self.seen(claim.cell_id, claim.runs)
        target = self.settled(claim.cell_id)
        if target is None or (target.status == "FINISHED" and not self.verifies(target)):
            target = claim.run
        with self._lock:
            self.targets[claim.cell_id] = target
        return target

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
                if self._is_delivered(item):
                    continue
                target = self._target(item)
                if target is not None:
                    self._deliver_cell(target, item)
                    self.claims.done(cell_id, target)
                    report.delivered.append(cell_id)
            except _Held as held:
                report.undelivered.append(cell_id)
                report.held[cell_id] = f"{item.cell.run_name}: {held}"
            except TrackingError as exc:
                self.offline_error = str(exc).splitlines()[0]
                report.undelivered.append(cell_id)
        report.error = self.offline_error
        return report

    def _is_delivered(self, item: Delivery) -> bool:
        run = self.targets.get(item.cell.cell_id) or self.settled(item.cell.cell_id)
        return (
            run is not None
            and run.status == item.status
            and run.tags.get(COUNT_TAG) == str(len(item.candidates))
        )

    def _target(self, item: Delivery) -> Run | None:
        """The run to deliver into; claims the cell when this worker holds no claim of it (a cell
        generated while MLflow was away, or by a run that was killed). None: nothing to do."""
        cell_id = item.cell.cell_id
        target = self.targets.get(cell_id)
        if target is None:
            settled = self.settled(cell_id)
            if settled is not None and settled.status == "FINISHED" and item.status == "FAILED":
                return None  # another worker finished it: the next run takes it in
            claim = self.claims.claim(
                cell_id, item.cell.run_name, LEASE_SLACK_S, known=self.runs_of(cell_id)
            )
            if not claim.won:
                self.claims.withdraw(cell_id)
                raise _Held(f"another worker's claim holds it (run {', '.join(claim.held_by)})")
            target = self.target_for(claim)
        if target.status == "FINISHED" and item.status == "FAILED":
            self.claims.done(cell_id, target)
            return None
        if target.status == "FINISHED" and target.tags.get(COUNT_TAG, "0") != "0":
            self._same_tips(target, item)
        return target

    def _same_tips(self, run: Run, item: Delivery) -> None:
        """A finished run's tips are kept as they are: the journal's must begin with them."""
        try:
            held = self.verified_candidates(run)
        except Unverified as exc:
            raise _Held(f"its run {run.run_id} cannot be read ({exc})") from None
        ours = {c.sample_index: c.candidate_id for c in item.candidates}
        if any(ours.get(c.sample_index) != c.candidate_id for c in held):
            self.claims.done(item.cell.cell_id, run)
            raise _Held(
                f"its run {run.run_id} holds other tips than this journal; the next run takes "
                "them into the journal"
            )

    def _deliver_cell(self, run: Run, item: Delivery) -> None:
        cell, candidates = item.cell, list(item.candidates)
        tags = {
            CELL_TAG: cell.cell_id,
            COUNT_TAG: str(len(candidates)),
            N_TIPS_TAG: str(cell.n_tips),
        }
        document = candidates_document(cell.prompt_text, candidates)
        self.client.log_artifact(run.run_id, CANDIDATES_ARTIFACT, document)
        if item.reason:
            tags[FAILURE_TAG] = item.reason[:MAX_FAILURE_CHARS]
        elif run.tags.get(FAILURE_TAG):
            tags[FAILURE_TAG] = ""
        # MLflow params are write-once; a reused run keeps the values it was first given.
        params = {k: v for k, v in cell.params.items() if k not in run.params}
        self.client.log_batch(
            run.run_id, params=params, metrics=cell_metrics(candidates), tags=tags
        )
        self.client.update_run(run.run_id, item.status, end_time_ms=int(time.time() * 1000))
        done = replace(
            run, status=item.status, params={**run.params, **params}, tags={**run.tags, **tags}
        )
        self.updated(done)
        with self._lock:
            self.targets[cell.cell_id] = done
            self._verified[run.run_id] = sorted(candidates, key=lambda c: c.sample_index)


def _with(runs: list[Run], status: str) -> list[Run]:
    return sorted((r for r in runs if r.status == status), key=run_order)


def _own_run(run: Run) -> bool:
    """Whether ``run`` is a cell's run rather than a claim (a RUNNING run with a claimant)."""
    return not (run.status == "RUNNING" and run.tags.get(CLAIMANT_TAG))


def _desired_status(state: CollectState, cell: CellRecord) -> tuple[str | None, str]:
    """FINISHED for a complete cell, FAILED for an open failure, None for work still to do."""
    if state.is_complete(cell.cell_id):
        return "FINISHED", ""
    if cell.cell_id in state.failures:
        return "FAILED", state.failures[cell.cell_id]
    return None, ""


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
            self.report.add(self.syncer.send([item]))

    def close(self) -> SyncReport:
        self._queue.put(None)
        self._thread.join()
        return self.report
