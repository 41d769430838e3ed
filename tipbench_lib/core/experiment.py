"""One experiment in the model's terms: its rubric, cells, candidates and judgments.

Whatever holds the experiment (MLflow, read by :mod:`tipbench_lib.tracking.experiment`; a
snapshot; the journals on this machine), the phases work on this one shape. What MLflow has and
what the journals have meet in one place, :meth:`ExperimentRecords.latest`, under the one rule of
:mod:`tipbench_lib.core.judgments`: the latest judgment per (candidate, judge) counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tipbench_lib.core.errors import JudgingError, RubricConflict
from tipbench_lib.core.judgments import latest_per_pair
from tipbench_lib.core.records import Candidate, Cell, Judgment, RubricRef
from tipbench_lib.core.rubric import DEFAULT_RUBRIC, Rubric


def legacy_note(where: str) -> str:
    """What an experiment that recorded no rubric is read as, in words."""
    return (
        f"{where} recorded no rubric (it was collected before tipbench recorded one): "
        f"read as {DEFAULT_RUBRIC}, the rubric every experiment used then"
    )


def rubric_conflict(experiment: str, recorded: RubricRef, asked: RubricRef, where: str) -> str:
    """Why ``asked`` cannot score more of ``experiment``, which is scored on ``recorded`` ('' if
    it can). ``where`` says where the experiment's rubric is recorded."""
    if asked == recorded:
        return ""
    said = f"rubric {asked.version!r} ({asked.content_hash})"
    if asked.version == recorded.version:
        said += (
            ", a copy edited since the experiment recorded it: save the edited rubric under a new "
            "version for a new experiment"
        )
    return (
        f"experiment {experiment!r} is scored on rubric {recorded.version!r} (content hash "
        f"{recorded.content_hash}, recorded in {where}); you asked for {said}. Collect into a new "
        f"experiment for another rubric (--experiment NEW), or leave --rubric out (or pass "
        f"--rubric {recorded.name}) to add cells scored on {recorded.version!r}"
    )


def refuse_rubric(experiment: str, recorded: RubricRef, asked: RubricRef, where: str) -> None:
    """Raise :class:`RubricConflict` when :func:`rubric_conflict` finds one."""
    problem = rubric_conflict(experiment, recorded, asked, where)
    if problem:
        raise RubricConflict(problem)


@dataclass
class ExperimentRecords:
    """An experiment's records, with the rubric its scores are on."""

    name: str
    rubric: Rubric
    cells: dict[str, Cell] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)
    """cell_id → MLflow run id (empty when not read from MLflow)."""
    rubric_note: str = ""
    """Why ``rubric`` is assumed rather than recorded (see :func:`legacy_note`); '' if recorded."""

    def latest(self, *more: Iterable[Judgment]) -> dict[tuple[str, str], Judgment]:
        """(candidate, judge) → the judgment that counts, over these and ``more`` (a journal's)."""
        return latest_per_pair(self.judgments, *more)

    def check_rubric(self, ref: RubricRef, what: str) -> None:
        """Refuse a judgment (or file of them) made under another rubric than the experiment's."""
        problem = self.rubric.other_rubric(ref.version, ref.content_hash)
        if problem:
            raise JudgingError(f"{what}: {problem}")
