"""Send a judge's saved scores to MLflow from a thread of their own, off the judge's path.

In the app, a save is the journal's fsync (under a millisecond) plus the cell run's MLflow update
(an artifact and a metrics batch, ~15 ms on loopback, more against a remote server). The judge
need not wait for the second half: the journal already holds the score, and everything the next
card shows is read from the journals (docs/architecture.md, section 9). So the app journals,
shows the next card, and this sender delivers a moment later, one delivery at a time, sharing one
delivery among saves that come close together. Nothing is lost when a delivery fails or the app
stops first: the cells stay pending in the session and the next delivery retries them, the
process delivers what is pending when it exits normally, and a session opened later finds any
journalled score MLflow lacks (:meth:`JudgeSession.sync_pending`, ``_missing_in_mlflow``).

An app killed before its sender ran leaves scores only in the journal, and the judge may never
open the app again. So every command that reads an experiment (``tipbench status``, ``judge
--export/--status/--apply``, the LLM judge, compare, the notebooks) reads it through
:func:`read_delivered`: each judge journalled on this machine gets a session, whose start-up
check finds what MLflow lacks, and the same :meth:`JudgeSession.sync_pending` sends it before
anything is counted; what cannot go out is named with how to send it (:class:`Backlog`).
"""

from __future__ import annotations

import atexit
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.escaping import shell_command

if TYPE_CHECKING:
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.experiment import StoredExperiment

QUIET_SECONDS = 0.3
"""How long after a save the sender waits for quiet before it sends. `marimo run` runs every
kernel as a thread of the server's process (docs/architecture.md, section 10), so a delivery that
starts at once competes, for one interpreter, with the kernel building the next card and the
server sending it; judges spend seconds on a card, so MLflow hears of a score a few tenths of a
second later instead."""

IDLE_SECONDS = 60.0
"""A sender with nothing to send for this long ends its thread; the next save starts another
(every page load opens a session, so threads must not pile up)."""


class Deliverable(Protocol):
    """What the sender needs of a session (a :class:`~tipbench_lib.judge.session.JudgeSession`)."""

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
    docstring): one session per judge, whose start-up check finds what MLflow lacks or has
    older, so nothing is sent twice."""
    from tipbench_lib.judge.session import JudgeSession, local_judgments

    records = stored.records
    if not records.candidates:
        return Backlog(records.name)
    journalled = local_judgments(records.name, records.rubric.part_ids, home)
    sent, waiting, unchecked, errors = 0, {}, {}, []
    for judge in sorted({j.judge_id for j in journalled}):
        try:
            session = JudgeSession(
                client, records.name, judge, stored=stored, queue=False, home=home
            )
        except TipbenchError as exc:  # e.g. a journal under another rubric: named, not sent
            unchecked[judge] = str(exc)
            continue
        missing = sum(session.unsynced.values())
        if not missing:
            continue
        error = session.sync_pending()
        left = sum(session.unsynced.values())
        sent += missing - left
        if left:
            waiting[judge] = left
            errors.append(error)
    return Backlog(records.name, sent, waiting, errors[0] if errors else "", unchecked)


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
