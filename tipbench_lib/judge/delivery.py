"""Send a judge's saved scores to MLflow: the syncer, and a thread of its own off the judge's path.

As collect's :mod:`tipbench_lib.collect.delivery` has a ``CellSyncer`` and a ``BackgroundSender``,
the judge phase has a :class:`JudgmentSyncer` (what MLflow lacks of one judge's journal, and the
upload of a cell's scores into its run) and a :class:`BackgroundDelivery` (the app's sender).

In the app, a save is the journal's fsync (under a millisecond) plus the cell run's MLflow update
(an artifact and a metrics batch, ~15 ms on loopback, more against a remote server). The judge
need not wait for the second half: the journal already holds the score, and everything the next
card shows is read from the journals (docs/architecture.md, section 9). So the app journals,
shows the next card, and this sender delivers a moment later, one delivery at a time, sharing one
delivery among saves that come close together. Nothing is lost when a delivery fails or the app
stops first: the cells stay pending in the syncer and the next delivery retries them, the
process delivers what is pending when it exits normally, and a syncer opened later finds any
journalled score MLflow lacks (:meth:`JudgmentSyncer.missing_in_mlflow`).

Pairwise judgments (docs/architecture.md, section 13) travel the same way: a judge's latest
pairs whose cell A is a cell go into that cell's run as ``pairs/<judge key>.json``, counted
pending on cell A, found missing at start-up and sent by the same :meth:`JudgmentSyncer.sync_cell`.

An app killed before its sender ran leaves scores only in the journal, and the judge may never
open the app again. So every command that reads an experiment (``tipbench status``, ``judge
--export/--status/--apply``, the LLM judge, compare, the notebooks) reads it through
:func:`read_delivered`: each judge journalled on this machine gets a syncer, whose start-up
check finds what MLflow lacks, and the same :meth:`JudgmentSyncer.sync_pending` sends it before
anything is counted; what cannot go out is named with how to send it (:class:`Backlog`).
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Protocol

from tipbench_lib.core.errors import TipbenchError, TrackingError
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.journal import waiting_lock
from tipbench_lib.core.judgments import latest_pair_judgments, latest_per_pair, pending_candidates
from tipbench_lib.core.records import Judgment, PairJudgment
from tipbench_lib.judge.journal import (
    JudgeJournal,
    judge_key,
    local_judgments,
    local_pairs,
    open_journals,
)
from tipbench_lib.tracking.mapping import (
    JUDGED_COUNT,
    PAIRS_TAG,
    PENDING_TAG,
    judgments_artifact,
    judgments_document,
    mean_metric,
    pairs_artifact,
    pairs_document,
    shown_metrics,
)

if TYPE_CHECKING:
    from tipbench_lib.core.experiment import ExperimentRecords
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.experiment import StoredExperiment

DEFAULT_REQUIRED_JUDGES = 1
"""Distinct judges every candidate of a cell needs before the cell run stops being pending."""

QUIET_SECONDS = 0.3
"""How long after a save the sender waits for quiet before it sends. `marimo run` runs every
kernel as a thread of the server's process (docs/architecture.md, section 10), so a delivery that
starts at once competes, for one interpreter, with the kernel building the next card and the
server sending it; judges spend seconds on a card, so MLflow hears of a score a few tenths of a
second later instead."""

IDLE_SECONDS = 60.0
"""A sender with nothing to send for this long ends its thread; the next save starts another
(every page load opens a session, so threads must not pile up)."""


def judge_artifact_path(judge_id: str) -> str:
    """Where a cell run keeps this judge's latest judgments in MLflow."""
    return judgments_artifact(judge_key(judge_id))


def judge_pairs_path(judge_id: str) -> str:
    """Where the run of a pair's cell A keeps this judge's latest pairwise judgments in MLflow."""
    return pairs_artifact(judge_key(judge_id))


def holder_cell(record: Judgment | PairJudgment) -> str:
    """The cell whose run holds a record in MLflow: a score's cell, a pair's cell A."""
    return record.cell_a if isinstance(record, PairJudgment) else record.cell_id


def cell_summary(
    candidate_ids: Sequence[str],
    judgments: Iterable[Judgment],
    required: int,
    parts: Sequence[str],
) -> tuple[dict[str, float], bool]:
    """The cell run's judging metrics over every judge's latest score, and whether it is pending.

    ``judged_count`` counts candidates with at least one score; ``<part>_mean`` is the mean of
    each dimension and flag of the rubric (``parts``) and of the composite. The cell stops being
    pending when every candidate has scores from ``required`` distinct judges. Failed LLM
    judgments never count.
    """
    wanted = set(candidate_ids)
    latest = latest_per_pair(j for j in judgments if j.candidate_id in wanted)
    scores = [j for j in latest.values() if j.ok]
    metrics: dict[str, float] = {JUDGED_COUNT: float(len({j.candidate_id for j in scores}))}
    if scores:
        for name in parts:
            metrics[mean_metric(name)] = fmean(float(j.scores[name]) for j in scores)
        metrics[mean_metric("composite")] = fmean(float(j.composite or 0.0) for j in scores)
    pending = bool(pending_candidates(wanted, latest.values(), required))
    return shown_metrics(metrics), pending


@dataclass
class JudgmentSyncer:
    """Delivers one judge's journalled scores into the cells' MLflow runs (module doc).

    It counts, per cell, the saves MLflow has not got (:attr:`unsynced`); at start-up that is what
    MLflow lacks of the journal, or has older, so a score whose MLflow half never happened (MLflow
    was down, the app closed before its sender ran) is sent with the next :meth:`sync_pending`.
    """

    client: MlflowClient
    records: ExperimentRecords
    journal: JudgeJournal
    by_cell: Mapping[str, Sequence[str]]
    """cell id → its candidates' ids (:func:`tipbench_lib.judge.journal.open_journals`)."""
    required: int = DEFAULT_REQUIRED_JUDGES
    home: Path | None = None
    unsynced: dict[str, int] = field(init=False)
    """cell → how many saves touched it since MLflow last had it (a sender in another thread
    drops a cell only if no save came in while it was sending: see :meth:`sync_pending`)."""

    def __post_init__(self) -> None:
        self._cell_of = {cid: cell for cell, ids in self.by_cell.items() for cid in ids}
        self._lock = threading.Lock()
        self.unsynced = self.missing_in_mlflow()

    def judged(self) -> dict[str, Judgment]:
        """candidate_id → this judge's latest judgment, for candidates of this experiment."""
        return {c: j for c, j in self.journal.latest().items() if c in self._cell_of}

    def known(self) -> dict[tuple[str, str], Judgment]:
        """The judgment that counts per (candidate, judge): MLflow's and this machine's merged."""
        parts = self.records.rubric.part_ids
        return self.records.latest(local_judgments(self.records.name, parts, self.home))

    def pairs_judged(self) -> dict[str, PairJudgment]:
        """pair_id → this judge's latest pairwise judgment, for pairs of this experiment's tips
        whose cell A has a run to hold them."""
        return {
            pid: p
            for pid, p in self.journal.latest_pairs().items()
            if self._cell_of.get(p.candidate_a) == p.cell_a
            and self._cell_of.get(p.candidate_b) == p.cell_b
            and p.cell_a in self.records.run_ids
        }

    def saved(self, records: Iterable[Judgment | PairJudgment]) -> None:
        """Journalled judgments (scores or pairs) MLflow has not got yet: their cells (a pair's
        cell A) go out with the next sync."""
        with self._lock:
            for record in records:
                cell = holder_cell(record)
                self.unsynced[cell] = self.unsynced.get(cell, 0) + 1

    def sync_pending(self) -> str:
        """Send every cell whose journalled scores MLflow has not got; '' when all arrived.

        Safe to call from a sender thread while the judge saves on (:class:`BackgroundDelivery`):
        it sends what it saw when it started, and keeps a cell pending when a save touched it
        meanwhile, so the next call sends that save too.
        """
        with self._lock:
            todo = dict(self.unsynced)
        for cell, saves in sorted(todo.items()):
            try:
                self.sync_cell(cell)
            except TrackingError as exc:
                return str(exc).splitlines()[0]
            with self._lock:
                if self.unsynced.get(cell) == saves:
                    del self.unsynced[cell]
        return ""

    def undelivered(self) -> int:
        """How many cells hold journalled scores MLflow has not got yet."""
        with self._lock:
            return len(self.unsynced)

    def missing_in_mlflow(self) -> dict[str, int]:
        """Cells whose latest journalled judgment of this judge MLflow lacks (or has older)."""
        judge = self.journal.judge_id
        stored = latest_per_pair(j for j in self.records.judgments if j.judge_id == judge)
        missing: dict[str, int] = {}
        for candidate_id, judgment in self.judged().items():
            have = stored.get((candidate_id, judge))
            if have is None or have.time < judgment.time:
                cell = self._cell_of[candidate_id]
                missing[cell] = missing.get(cell, 0) + 1
        stored_pairs = latest_pair_judgments(p for p in self.records.pairs if p.judge_id == judge)
        for pid, pair in self.pairs_judged().items():
            had = stored_pairs.get((pid, judge))
            if had is None or had.time < pair.time:
                missing[pair.cell_a] = missing.get(pair.cell_a, 0) + 1
        return missing

    def sync_cell(self, cell_id: str) -> dict[str, float]:
        """Upload this judge's latest judgments of the cell and pairs with the cell as A; refresh
        the run's metrics and tag. A file is written only when the judge has something in it,
        so a judge of pairs only adds no empty scores file (and the reverse)."""
        run_id = self.records.run_ids[cell_id]
        ids = set(self.by_cell[cell_id])
        judge = self.journal.judge_id
        with waiting_lock(self.journal.send_lock):
            mine = [j for c, j in self.journal.latest().items() if c in ids]
            pairs = [p for p in self.pairs_judged().values() if p.cell_a == cell_id]
            if mine:
                document = judgments_document(mine)
                self.client.log_artifact(run_id, judge_artifact_path(judge), document)
            if pairs:
                self.client.log_artifact(run_id, judge_pairs_path(judge), pairs_document(pairs))
        known = [j for j in self.known().values() if j.candidate_id in ids]
        metrics, pending = cell_summary(
            self.by_cell[cell_id], known, self.required, self.records.rubric.part_ids
        )
        tags = {PENDING_TAG: "true" if pending else "false"}
        if pairs:
            tags[PAIRS_TAG] = "true"  # readers list pairs/ only on runs that say they hold some
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        return metrics


class Deliverable(Protocol):
    """What the sender needs of a session (a :class:`~tipbench_lib.judge.session.JudgeSession`, or
    a :class:`JudgmentSyncer`)."""

    def sync_pending(self) -> str: ...

    def undelivered(self) -> int: ...


@dataclass(frozen=True)
class DeliveryState:
    """Where delivery stands, for the message after a save."""

    pending: int
    """Cells with scores MLflow has not got yet (being sent, or waiting for the next try)."""
    error: str
    """Why the last delivery failed; '' when it succeeded (or none ran yet)."""

    def sentence(self) -> str:
        """What MLflow has, in words for the judge."""
        if self.error:
            return (
                f"MLflow is behind ({self.error}); your journal has every score and the next "
                "save sends them again"
            )
        if self.pending:
            return "MLflow gets it in the background"
        return "MLflow has every score"


class BackgroundDelivery:
    """A session's sender: :meth:`request` after each save, :meth:`settle` to wait for it."""

    def __init__(
        self,
        session: Deliverable,
        *,
        quiet: float = QUIET_SECONDS,
        idle: float = IDLE_SECONDS,
    ) -> None:
        self.session = session
        self.quiet = quiet
        self.idle = idle
        self._changed = threading.Condition()
        self._wanted = False
        self._hurry = False
        self._busy = False
        self._running = False
        self._error = ""
        _LIVE.add(self)

    def request(self) -> None:
        """Ask for a delivery; saves that come before it starts share it."""
        with self._changed:
            self._wanted = self._busy = True
            self._changed.notify_all()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="tipbench-delivery", daemon=True).start()

    def state(self) -> DeliveryState:
        with self._changed:
            error = self._error
        return DeliveryState(self.session.undelivered(), error)

    def settle(self, timeout: float = 30.0) -> DeliveryState:
        """Wait until no delivery is running or asked for (at most ``timeout`` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._busy, timeout=timeout)
        return self.state()

    def flush(self, timeout: float = 10.0) -> DeliveryState:
        """Deliver what is pending now, without the quiet wait (the process is exiting)."""
        if self.session.undelivered():
            with self._changed:
                self._hurry = True
            self.request()
        return self.settle(timeout)

    def _run(self) -> None:
        while self._next():
            try:
                error = self.session.sync_pending()
            except Exception as exc:  # a sender that died silently would stop all delivery
                error = f"{type(exc).__name__}: {exc}"
            with self._changed:
                self._error = error
                if not self._wanted:
                    self._busy = False
                self._changed.notify_all()

    def _next(self) -> bool:
        """Wait for a request and then for quiet; False when idle long enough to end."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._wanted, timeout=self.idle):
                self._running = False
                return False
            # Quiet: each request that comes meanwhile starts the wait again.
            while not self._hurry:
                self._wanted = False
                if not self._changed.wait_for(lambda: self._wanted or self._hurry, self.quiet):
                    break
            self._wanted = self._hurry = False
            return True


_LIVE: weakref.WeakSet[BackgroundDelivery] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """At a normal exit (the app stopped with Ctrl+C or SIGTERM), deliver what is pending."""
    for delivery in list(_LIVE):
        delivery.flush()


# -- what a reading command sends first ---------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """This machine's journalled judgments of an experiment that MLflow lacked when it was read:
    how many were sent, which still wait and why."""

    experiment: str
    sent: int = 0
    waiting: dict[str, int] = field(default_factory=dict)
    """judge id → judgments journalled here that MLflow lacks and did not take."""
    error: str = ""
    """Why MLflow did not take them (the first failure)."""
    unchecked: dict[str, str] = field(default_factory=dict)
    """judge id → why this judge's journal could not be compared with MLflow at all."""

    def warning(self) -> str:
        """What waits and how to send it; '' when MLflow has everything journalled here."""
        said = []
        if self.waiting:
            count = sum(self.waiting.values())
            judges = ", ".join(f"{n} by {judge!r}" for judge, n in sorted(self.waiting.items()))
            said.append(
                f"{count} judgment(s) journalled on this machine are not in MLflow yet "
                f"({judges}; {self.error}), so they are not counted here"
            )
        for judge, why in sorted(self.unchecked.items()):
            said.append(f"the journal of judge {judge!r} on this machine was not sent: {why}")
        if not said:
            return ""
        again = shell_command("tipbench", "status", "--experiment", self.experiment)
        return (
            "; ".join(said) + ". Every command that reads the experiment sends what MLflow lacks "
            f"first: once the cause is fixed, run one, e.g. `{again}`"
        )


def deliver_backlog(
    client: MlflowClient, stored: StoredExperiment, home: Path | None = None
) -> Backlog:
    """Send every judgment journalled on this machine that MLflow lacks (see the module
    docstring): one syncer per judge, whose start-up check finds what MLflow lacks or has
    older, so nothing is sent twice."""
    records = stored.records
    if not records.candidates:
        return Backlog(records.name)
    journalled = local_judgments(records.name, records.rubric.part_ids, home)
    judges = sorted({j.judge_id for j in [*journalled, *local_pairs(records.name, home)]})
    if not judges:
        return Backlog(records.name)
    try:
        by_cell = open_journals(records, home)
    except TipbenchError as exc:  # e.g. a journal under another rubric: named, not sent
        return Backlog(records.name, unchecked=dict.fromkeys(judges, str(exc)))
    sent, waiting, errors = 0, {}, []
    for judge in judges:
        journal = JudgeJournal(records.name, judge, records.rubric.part_ids, home)
        syncer = JudgmentSyncer(client, records, journal, by_cell, home=home)
        missing = sum(syncer.unsynced.values())
        if not missing:
            continue
        error = syncer.sync_pending()
        left = sum(syncer.unsynced.values())
        sent += missing - left
        if left:
            waiting[judge] = left
            errors.append(error)
    return Backlog(records.name, sent, waiting, errors[0] if errors else "")


def read_delivered(
    client: MlflowClient, experiment: str, home: Path | None = None
) -> tuple[StoredExperiment, Backlog]:
    """The experiment as MLflow holds it once this machine's journalled judgments are in it:
    read, deliver what it lacks, and read again only when something was sent."""
    from tipbench_lib.tracking.experiment import read_experiment

    stored = read_experiment(client, experiment)
    backlog = deliver_backlog(client, stored, home)
    if backlog.sent:
        stored = read_experiment(client, experiment)
    return stored, backlog
