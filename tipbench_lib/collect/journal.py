"""The collect journal: the experiment's rubric, cells, candidates, failures and interruptions.

The journal, not MLflow, is the record of what was generated; MLflow receives each cell from it.
It is one of the recorders of the experiment model (:mod:`tipbench_lib.core.records`): a line is a
record's JSON form with its type and experiment. Reading the journal back gives a
:class:`CollectState` that the runner uses to skip finished work and the syncer uses to send what
MLflow lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipbench_lib.backends.base import Generation
from tipbench_lib.core.experiment import refuse_rubric
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.journal import Journal, experiment_dir, legacy_experiment_dir, own_records
from tipbench_lib.core.journal_legacy import adopt_collect
from tipbench_lib.core.records import (
    FORMAT_VERSION,
    Candidate,
    CellRecord,
    RubricRef,
    format_of,
    now_iso,
)
from tipbench_lib.core.rubric import AutoChecks, Rubric, recorded_rubric


@dataclass
class CollectState:
    """What the journal says: the rubric, cells seen, candidates per cell by sample index, open
    failures, and cells an outage cut short (``interrupted``: retried by a plain rerun, never
    delivered as FAILED). A cell's latest outcome wins: an interruption replaces an older failure
    and the other way round. ``rubric`` is None for a journal from before rubrics were recorded."""

    rubric: RubricRef | None = None
    rubric_text: str = ""
    cells: dict[str, CellRecord] = field(default_factory=dict)
    candidates: dict[str, dict[int, Candidate]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    interrupted: dict[str, str] = field(default_factory=dict)
    attempts: dict[tuple[str, int], dict[int, Candidate]] = field(default_factory=dict)
    """(cell, sample index) → try number → a try ``--diversity`` rejected as a near repeat."""
    adopted: dict[str, str] = field(default_factory=dict)
    """cell → the MLflow run its candidates were adopted from (another worker made them)."""

    def recorded_rubric(self) -> Rubric | None:
        """The rubric the journal recorded (its text is kept too), or None."""
        if self.rubric is None:
            return None
        return recorded_rubric(self.rubric, self.rubric_text, "the collect journal")

    def refuse_other_rubric(self, experiment: str, rubric: Rubric) -> None:
        """Refuse ``rubric`` when the journal holds cells scored on another one."""
        if self.rubric is not None:
            refuse_rubric(experiment, self.rubric, rubric.ref, "its collect journal")

    def candidate_list(self, cell_id: str) -> list[Candidate]:
        return [self.candidates[cell_id][i] for i in sorted(self.candidates.get(cell_id, {}))]

    def is_complete(self, cell_id: str) -> bool:
        cell = self.cells.get(cell_id)
        return cell is not None and len(self.candidates.get(cell_id, {})) >= cell.n_tips


def candidate_record(
    cell_id: str,
    index: int,
    seed: int,
    text: str,
    generation: Generation,
    checks: AutoChecks,
    load_s: float,
) -> Candidate:
    """One generated candidate, with the rubric's automatic verdicts on its text.

    The id hashes the text, so a regenerated candidate can never inherit a judgment meant for
    other text.
    """
    return Candidate(
        candidate_id=content_hash([cell_id, index, text]),
        cell_id=cell_id,
        sample_index=index,
        text=text,
        raw=generation.raw,
        seed=seed,
        latency_s=generation.latency_s,
        load_s=load_s,
        prompt_tokens=generation.prompt_tokens,
        eval_tokens=generation.eval_tokens,
        tokens_per_s=generation.tokens_per_s,
        done_reason=generation.done_reason,
        truncated=generation.truncated,
        auto=dict(checks.flags),
        char_count=checks.char_count,
        auto_reasons=checks.reasons,
        created_at=now_iso(),
    )


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

    def _append(self, kind: str, record: dict[str, Any]) -> None:
        state = self.state()  # adopts an old-layout journal before the first new line
        record = {"type": kind, "experiment": self.experiment, **record}
        self.journal.append(record)
        _apply(state, record)

    def use_rubric(self, rubric: Rubric) -> None:
        """Record the experiment's rubric (with its text) once; refuse one of another rubric."""
        state = self.state()
        state.refuse_other_rubric(self.experiment, rubric)
        if state.rubric is None:
            record = {"format": FORMAT_VERSION, "rubric": rubric.ref.to_json(), "text": rubric.text}
            self._append("experiment", record)

    def add_cell(self, cell: CellRecord) -> None:
        """Record a cell once; a cell already journalled with the same content is not repeated."""
        if self.state().cells.get(cell.cell_id) != cell:
            self._append("cell", cell.to_json())

    def add_candidate(self, candidate: Candidate) -> None:
        self._append("candidate", candidate.to_json())

    def add_attempt(self, candidate: Candidate, attempt: int, similarity: float) -> None:
        """A try ``--diversity`` rejected: kept so a resumed run goes on at the next try."""
        self._append(
            "attempt", {**candidate.to_json(), "attempt": attempt, "similarity": similarity}
        )

    def adopt(self, cell: CellRecord, candidates: list[Candidate], run_id: str) -> None:
        """Take a cell another worker finished from its MLflow run, before generating anything.

        The ``adopted`` record comes first and replaces whatever the journal held of the cell
        (a partial cell, a failure, rejected tries): MLflow's run is what judges see, so its
        candidates win. A crash mid-adoption leaves a partial cell, adopted again next time.
        """
        self._append("adopted", {"cell_id": cell.cell_id, "run_id": run_id, "at": now_iso()})
        self.add_cell(cell)
        for candidate in candidates:
            self.add_candidate(candidate)

    def add_failure(self, cell_id: str, reason: str) -> None:
        self._append("failure", {"cell_id": cell_id, "reason": reason, "at": now_iso()})

    def add_interruption(self, cell_id: str, reason: str) -> None:
        """The backend went away while this cell ran: not the cell's fault, so not a failure."""
        self._append("interrupted", {"cell_id": cell_id, "reason": reason, "at": now_iso()})

    def clear_failure(self, cell_id: str) -> None:
        """The cell completed: close its open failure or interruption, if it has one."""
        state = self.state()
        if cell_id in state.failures or cell_id in state.interrupted:
            self._append("failure_cleared", {"cell_id": cell_id, "at": now_iso()})


def _apply(state: CollectState, rec: dict[str, Any]) -> None:
    """Fold one journal record into the state; the first candidate for an index wins."""
    kind = rec.get("type")
    if kind == "experiment" and format_of(rec) >= FORMAT_VERSION:
        state.rubric = RubricRef.from_json(rec["rubric"])
        state.rubric_text = str(rec.get("text") or "")
    elif kind == "cell":
        state.cells[rec["cell_id"]] = CellRecord.from_json(rec)
    elif kind == "candidate":
        candidate = Candidate.from_json(rec)
        state.candidates.setdefault(candidate.cell_id, {}).setdefault(
            candidate.sample_index, candidate
        )
    elif kind == "failure":
        state.failures[rec["cell_id"]] = rec["reason"]
        state.interrupted.pop(rec["cell_id"], None)
    elif kind == "interrupted":
        state.interrupted[rec["cell_id"]] = rec["reason"]
        state.failures.pop(rec["cell_id"], None)
    elif kind == "failure_cleared":
        state.failures.pop(rec["cell_id"], None)
        state.interrupted.pop(rec["cell_id"], None)
    elif kind == "attempt":
        tried = Candidate.from_json(rec)
        key = (tried.cell_id, tried.sample_index)
        state.attempts.setdefault(key, {}).setdefault(int(rec["attempt"]), tried)
    elif kind == "adopted" and "cell_id" in rec:  # the first layout's header has no cell
        _forget_cell(state, rec["cell_id"])
        state.adopted[rec["cell_id"]] = str(rec.get("run_id") or "")


def _forget_cell(state: CollectState, cell_id: str) -> None:
    """Drop the cell's candidates, tries and open outcomes (an adoption replaces them)."""
    state.candidates.pop(cell_id, None)
    state.failures.pop(cell_id, None)
    state.interrupted.pop(cell_id, None)
    for key in [k for k in state.attempts if k[0] == cell_id]:
        del state.attempts[key]
