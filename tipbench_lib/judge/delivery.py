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
"""

from __future__ import annotations

import atexit
import threading
import weakref
from dataclasses import dataclass
from typing import Protocol

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
