"""Progress of a long run (collecting, LLM judging): the events, and a bar on the terminal.

The runners report a :class:`ProgressEvent` after each unit of work; the notebooks draw their own
view from the events and the command line draws :class:`TerminalProgress`, so a runner never knows
where its progress is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """One unit of work done: ``done`` of ``total``, with a short line naming what was done."""

    done: int
    total: int
    message: str
    cell: Any = None
    """The collect phase's :class:`~tipbench_lib.collect.plan.PlannedCell`, when a candidate
    arrived."""
    candidate: dict[str, Any] | None = None
    """The candidate's journal record, when one arrived."""


ProgressCallback = Callable[[ProgressEvent], None]


class TerminalProgress:
    """A progress bar with ETA on stderr (tqdm), fed by a runner's progress events."""

    def __init__(self, unit: str = "tip") -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar: Any = None
        self.unit = unit

    def __call__(self, event: ProgressEvent) -> None:
        if self._bar is None:
            # Under cron or Airflow stderr is a log file: a line every 30 s, not every tip.
            interval = 0.2 if sys.stderr.isatty() else 30.0
            self._bar = self._tqdm(
                total=event.total,
                unit=self.unit,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=interval,
            )
        self._bar.update(event.done - self._bar.n)
        self._bar.set_postfix_str(event.message[:60], refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
