"""The collect journal: cells, candidates, failures and interruptions as append-only records.

The journal, not MLflow, is the record of what was generated; MLflow receives each cell from it.
Reading the journal back gives a :class:`CollectState` that the runner uses to skip finished work
and the syncer uses to send what MLflow lacks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tipbench_lib.backends.base import Generation
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.journal import Journal, experiment_dir, legacy_experiment_dir, own_records
from tipbench_lib.core.journal_legacy import adopt_collect


@dataclass(frozen=True)
class CellRecord:
    """Everything needed to log a cell to MLflow, even from a later run with other arguments."""

    cell_id: str
    run_name: str
    n_tips: int
    prompt_text: str
    params: dict[str, str]


@dataclass
class CollectState:
    """What the journal says: cells seen, candidates per cell by sample index, open failures,
    and cells an outage cut short (``interrupted``: retried by a plain rerun, never delivered as
    FAILED). A cell's latest outcome wins: an interruption replaces an older failure and the
    other way round."""

    cells: dict[str, CellRecord] = field(default_factory=dict)
    candidates: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    interrupted: dict[str, str] = field(default_factory=dict)

    def candidate_list(self, cell_id: str) -> list[dict[str, Any]]:
        return [self.candidates[cell_id][i] for i in sorted(self.candidates.get(cell_id, {}))]

    def is_complete(self, cell_id: str) -> bool:
        cell = self.cells.get(cell_id)
        return cell is not None and len(self.candidates.get(cell_id, {})) >= cell.n_tips


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def candidate_record(
    cell_id: str,
    index: int,
    seed: int,
    text: str,
    generation: Generation,
    checks: Any,
    load_s: float,
) -> dict[str, Any]:
    """The journal and ``candidates.json`` form of one candidate.

    The id hashes the text, so a regenerated candidate can never inherit a judgment meant for
    other text.
    """
    return {
        "candidate_id": content_hash([cell_id, index, text]),
        "cell_id": cell_id,
        "sample_index": index,
        "text": text,
        "raw": generation.raw,
        "seed": seed,
        "latency_s": generation.latency_s,
        "load_s": load_s,
        "prompt_tokens": generation.prompt_tokens,
        "eval_tokens": generation.eval_tokens,
        "tokens_per_s": generation.tokens_per_s,
        "done_reason": generation.done_reason,
        "truncated": generation.truncated,
        "format_ok_auto": checks.format_ok,
        "overlong_auto": checks.overlong,
        "char_count": checks.char_count,
        "auto_reasons": list(checks.reasons),
        "created_at": now_iso(),
    }


class CollectJournal:
    """``<home>/journal/<slug>-<hash>/collect.jsonl``, with its state kept in step in memory.

    The file is read once; every append updates the in-memory state too, so a long grid never
    rereads its own journal. Every record carries its experiment and only this experiment's
    records make the state, so nothing of another experiment can be skipped or delivered here.
    """

    def __init__(self, experiment: str, home: Path | None = None) -> None:
        self.experiment = experiment
        self.dir = experiment_dir(experiment, home)
        self.journal = Journal(self.dir / "collect.jsonl")
        self.legacy_path = legacy_experiment_dir(experiment, home) / "collect.jsonl"
        self._state: CollectState | None = None

    @property
    def lock_path(self) -> Path:
        return self.dir / "collect.lock"

    def state(self) -> CollectState:
        if self._state is None:
            adopt_collect(self.experiment, self.legacy_path, self.journal.path)
            self._state = CollectState()
            for rec in own_records(self.journal, "experiment", self.experiment):
                _apply(self._state, rec)
        return self._state

    def _append(self, record: dict[str, Any]) -> None:
        state = self.state()  # adopts an old-layout journal before the first new line
        record = {"type": record["type"], "experiment": self.experiment, **record}
        self.journal.append(record)
        _apply(state, record)

    def add_cell(self, cell: CellRecord) -> None:
        """Record a cell once; a cell already journalled with the same content is not repeated."""
        if self.state().cells.get(cell.cell_id) != cell:
            self._append({"type": "cell", **asdict(cell)})

    def add_candidate(self, record: dict[str, Any]) -> None:
        self._append({"type": "candidate", **record})

    def add_failure(self, cell_id: str, reason: str) -> None:
        self._append({"type": "failure", "cell_id": cell_id, "reason": reason, "at": now_iso()})

    def add_interruption(self, cell_id: str, reason: str) -> None:
        """The backend went away while this cell ran: not the cell's fault, so not a failure."""
        self._append({"type": "interrupted", "cell_id": cell_id, "reason": reason, "at": now_iso()})

    def clear_failure(self, cell_id: str) -> None:
        """The cell completed: close its open failure or interruption, if it has one."""
        state = self.state()
        if cell_id in state.failures or cell_id in state.interrupted:
            self._append({"type": "failure_cleared", "cell_id": cell_id, "at": now_iso()})


def _apply(state: CollectState, rec: dict[str, Any]) -> None:
    """Fold one journal record into the state; the first candidate for an index wins."""
    kind = rec.get("type")
    if kind == "cell":
        fields = {k: rec[k] for k in ("cell_id", "run_name", "n_tips", "prompt_text", "params")}
        state.cells[rec["cell_id"]] = CellRecord(**fields)
    elif kind == "candidate":
        body = {k: v for k, v in rec.items() if k not in ("type", "experiment")}
        state.candidates.setdefault(rec["cell_id"], {}).setdefault(rec["sample_index"], body)
    elif kind == "failure":
        state.failures[rec["cell_id"]] = rec["reason"]
        state.interrupted.pop(rec["cell_id"], None)
    elif kind == "interrupted":
        state.interrupted[rec["cell_id"]] = rec["reason"]
        state.failures.pop(rec["cell_id"], None)
    elif kind == "failure_cleared":
        state.failures.pop(rec["cell_id"], None)
        state.interrupted.pop(rec["cell_id"], None)
