"""Claiming a cell in MLflow before generating it: one run per cell, whatever number of workers.

The journal is per machine and MLflow is shared, so two workers (two Airflow workers, a task
retried on another worker while the first still runs, two people) may set out to make the same
cell. Only a claim's winner generates and delivers a cell (docs/architecture.md, section 5):

1. **Claim**: create a run with the cell's tag, status RUNNING, this worker's id
   (:data:`~tipbench_lib.tracking.mapping.CLAIMANT_TAG`), a lease (``CLAIM_UNTIL_TAG``) and the
   generation settings (``SETTINGS_TAG``); or take back a claim this home left when it was killed.
2. **Decide**, from one search of the cell's runs made after the claim exists: the claim wins when
   no other *live* claim is there (a RUNNING claim of another worker whose lease has not run out).
   Otherwise the claim first in the order every worker agrees on (start time, then run id:
   :func:`~tipbench_lib.tracking.cellruns.run_order`) stays and looks again later; every other
   claim is withdrawn at once, and its worker waits for the cell (and then takes it from MLflow).

**No two winners.** A claim exists before its worker's deciding search. Of two claims, the one
created second is searched after the first exists, so its worker sees the first claim and cannot
win while it stands; a claim is withdrawn only by a worker that did not win with it. So whatever
the clocks say, at most one of two live claims wins. The order only decides who stays: without
it two claims that see each other could both back off and try again for ever. The one way round
this is a lease running out while its worker still works (it generates for longer than its own
timeouts allow): the cell then gets a second run, which a later collect reconciles
(:mod:`.reconcile`) without losing a judgment.

**Leases.** A worker that dies holding a claim (``kill -9``, a lost machine) never withdraws it.
Its own home knows it is dead (the experiment's journal lock is held and one collector per
experiment and home runs), so a rerun there takes the claim back at once. Another worker counts it
until its lease runs out: the tips left times the generation timeout (and ``--diversity``'s
tries), plus :data:`LEASE_SLACK_S`, on the claimant's clock, plus :data:`CLOCK_SKEW_S` for
clocks that disagree. An abandoned claim of another worker is left as it is.

**Deleting.** A claim is deleted only by the process that created it, when it is withdrawn or done
with, and only while it holds no artifact (listed first): a run created empty that nobody else
writes to (only a winner writes into its claim). A claim a killed run of this home left, once
taken back and then given up, is marked FAILED instead (no reader takes a FAILED run). Nothing
else is ever deleted, and nothing is ever killed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.journal import make_dirs, open_private_file
from tipbench_lib.tracking.cellruns import run_order
from tipbench_lib.tracking.client import MlflowClient, now_ms
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.mapping import (
    CELL_TAG,
    CLAIM_UNTIL_TAG,
    CLAIMANT_TAG,
    FAILURE_TAG,
    PENDING_TAG,
    SETTINGS_TAG,
)

LEASE_SLACK_S = 600.0
"""Beyond the generations themselves: loading the model (the client's 120 s timeout), unloading
the one before, and delivering the cell."""
CLOCK_SKEW_S = 60.0
"""How far two workers' clocks may disagree before a live claim looks abandoned."""
WORKER_FILE = "worker-id"
"""In the experiment's journal folder: the id this home's claims carry."""


def worker_id(folder: Path) -> str:
    """This home's worker id for the experiment (made once, kept beside the journal's lock).

    A random id with the host name: a home copied to another machine is another worker there.
    """
    path = folder / WORKER_FILE
    with contextlib.suppress(FileNotFoundError):
        found = path.read_text(encoding="utf-8").strip()
        if found:
            return found
    made = f"{uuid.uuid4().hex}@{socket.gethostname()}"
    make_dirs(folder)
    spare = folder / f".{WORKER_FILE}.{os.getpid()}.tmp"
    fd = open_private_file(spare, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(made + "\n")
    os.replace(spare, path)
    return made


def lease_s(tips_left: int, timeout_s: float, tries: int = 1) -> float:
    """How long a claim may hold a cell before another worker counts it abandoned."""
    return LEASE_SLACK_S + max(1, tips_left) * timeout_s * max(1, tries)


@dataclass(frozen=True)
class Claim:
    """What claiming a cell came to.

    ``won``: this worker makes the cell. Otherwise ``run`` is this worker's claim when it stays
    (first in the order, waiting for the others to withdraw), or None when it was withdrawn (or
    never made) because ``held_by`` holds the cell. ``runs`` are the cell's runs as last searched.
    """

    cell_id: str
    won: bool
    run: Run | None
    held_by: tuple[str, ...] = ()
    runs: tuple[Run, ...] = ()


class Claims:
    """One worker's claims in one experiment (module doc). Safe to use from two threads."""

    def __init__(
        self, client: MlflowClient, experiment_id: str, worker: str, settings: str = ""
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.worker = worker
        self.settings = settings
        self._mine: dict[str, Run] = {}
        self._created: set[str] = set()
        """Claims this process created: the only runs it may delete (while empty)."""
        self._gone: set[str] = set()
        """Claims this worker withdrew: a view of the cell older than that still lists them."""
        self._lock = threading.RLock()

    def held(self) -> list[str]:
        """The cells this worker holds a claim of."""
        with self._lock:
            return list(self._mine)

    def holds(self, cell_id: str) -> Run | None:
        """This worker's live claim of the cell, if it holds one."""
        with self._lock:
            return self._mine.get(cell_id)

    def runs_of(self, cell_id: str) -> list[Run]:
        """Every active run carrying the cell's tag: one search."""
        return self.client.search_runs([self.experiment_id], tag_filter(CELL_TAG, cell_id))

    def live_others(self, runs: Sequence[Run], now: int | None = None) -> list[Run]:
        """The live claims of other workers among ``runs`` (module doc, "Leases")."""
        now = now_ms() if now is None else now
        return [r for r in runs if self._foreign_live(r, now)]

    def claim(
        self, cell_id: str, run_name: str, lease: float, known: Sequence[Run] | None = None
    ) -> Claim:
        """Claim the cell, or look again at a claim this worker holds (module doc).

        ``known`` are the cell's runs as the caller last saw them (its one search of the
        experiment): a live claim of another worker among them is respected without a request,
        and a claim this home left is taken back instead of making another.
        """
        with self._lock:
            mine = self._mine.get(cell_id)
            if mine is None:
                known = self.runs_of(cell_id) if known is None else known
                others = self.live_others(known)
                if others:
                    return Claim(cell_id, False, None, _ids(others), tuple(known))
                mine = self._take_back(known, lease) or self._create(cell_id, run_name, lease)
                self._mine[cell_id] = mine
            else:
                self._renew(mine, lease)
            runs = self.runs_of(cell_id)
            others = self.live_others(runs)
            if not others:
                return Claim(cell_id, True, mine, (), tuple(runs))
            if run_order(mine) < min(run_order(o) for o in others):
                return Claim(cell_id, False, mine, _ids(others), tuple(runs))
            self.withdraw(cell_id)
            return Claim(cell_id, False, None, _ids(others), tuple(runs))

    def done(self, cell_id: str, target: Run) -> None:
        """The cell was delivered into ``target``: a claim that is not it was only a claim."""
        with self._lock:
            mine = self._mine.get(cell_id)
            if mine is not None and mine.run_id == target.run_id:
                del self._mine[cell_id]
            elif mine is not None:
                self.withdraw(cell_id)

    def withdraw(self, cell_id: str) -> None:
        """Give the cell up: delete the claim if this process created it and it holds nothing;
        else (a claim a killed run of this home left) mark it FAILED, which no reader takes."""
        with self._lock:
            mine = self._mine.pop(cell_id, None)
            if mine is not None:
                self._gone.add(mine.run_id)
        if mine is None:
            return
        if mine.run_id in self._created and not self.client.list_artifacts(mine.run_id):
            self.client.delete_run(mine.run_id)
        else:
            self.client.set_tag(mine.run_id, FAILURE_TAG, "claim withdrawn; the cell is elsewhere")
            self.client.update_run(mine.run_id, "FAILED")

    def release(self, cell_ids: Sequence[str] | None = None) -> list[str]:
        """Withdraw these claims (every one still held when None); never raises. Returns what
        could not be withdrawn (MLflow gone): this home takes those back on its next run."""
        with self._lock:
            asked = list(self._mine) if cell_ids is None else cell_ids
            todo = [c for c in asked if c in self._mine]
        left = []
        for cell_id in todo:
            try:
                self.withdraw(cell_id)
            except TrackingError:
                left.append(cell_id)
        return left

    # -- the runs ----------------------------------------------------------------------------

    def _create(self, cell_id: str, run_name: str, lease: float) -> Run:
        tags = {
            CELL_TAG: cell_id,
            CLAIMANT_TAG: self.worker,
            CLAIM_UNTIL_TAG: str(_until(lease)),
            PENDING_TAG: "true",
        }
        if self.settings:
            tags[SETTINGS_TAG] = self.settings
        run = self.client.create_run(self.experiment_id, run_name, tags=tags)
        self._created.add(run.run_id)
        return run

    def _take_back(self, known: Sequence[Run], lease: float) -> Run | None:
        """A claim this home left (a killed run of this home), renewed; the first if several."""
        left = sorted(
            (
                r
                for r in known
                if r.status == "RUNNING"
                and r.tags.get(CLAIMANT_TAG) == self.worker
                and r.run_id not in self._gone
            ),
            key=run_order,
        )
        if not left:
            return None
        self._renew(left[0], lease)
        return left[0]

    def _renew(self, run: Run, lease: float) -> None:
        self.client.set_tag(run.run_id, CLAIM_UNTIL_TAG, str(_until(lease)))

    def _foreign_live(self, run: Run, now: int) -> bool:
        """A claim of another worker whose lease holds. This home's other claims are dead: the
        journal lock proves no other collector of this home and experiment runs."""
        claimant = run.tags.get(CLAIMANT_TAG)
        if run.status != "RUNNING" or not claimant or claimant == self.worker:
            return False
        until = run.tags.get(CLAIM_UNTIL_TAG, "")
        return until.isdigit() and int(until) + CLOCK_SKEW_S * 1000 >= now


def tag_filter(key: str, value: str, op: str = "=") -> str:
    """A ``runs/search`` filter on one tag (values here are ids and option lists, never quotes)."""
    if "'" in value:
        raise ValueError(f"a tag filter value cannot hold a quote: {value!r}")
    return f"tags.`{key}` {op} '{value}'"


def _until(lease: float) -> int:
    return int((time.time() + lease) * 1000)


def _ids(runs: Sequence[Run]) -> tuple[str, ...]:
    return tuple(r.run_id for r in sorted(runs, key=run_order))
