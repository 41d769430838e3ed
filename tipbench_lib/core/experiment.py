"""One experiment in the model's terms: its rubric, cells, candidates and judgments.

Whatever holds the experiment (MLflow, read by :mod:`tipbench_lib.tracking.experiment`; a
snapshot; the journals on this machine), the phases work on this one shape. What MLflow has and
what the journals have meet in one place, :meth:`ExperimentRecords.latest`, under the one rule of
:mod:`tipbench_lib.core.judgments`: the latest judgment per (candidate, judge) counts; pairwise
judgments meet in :meth:`ExperimentRecords.latest_pairs`, the latest per (pair, judge)
(docs/architecture.md, section 13).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tipbench_lib.core.errors import JudgingError, RubricConflict
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.judgments import latest_pair_judgments, latest_per_pair
from tipbench_lib.core.records import Candidate, Cell, Judgment, PairJudgment, RubricRef
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
        f"{shell_command('--rubric', recorded.name)}) to add cells scored on {recorded.version!r}"
    )


def refuse_rubric(experiment: str, recorded: RubricRef, asked: RubricRef, where: str) -> None:
    """Raise :class:`RubricConflict` when :func:`rubric_conflict` finds one."""
    problem = rubric_conflict(experiment, recorded, asked, where)
    if problem:
        raise RubricConflict(problem)


def changed_since_judged(rubric: Rubric, judged_under: Iterable[RubricRef]) -> str:
    """Why judgments made under ``judged_under`` cannot be scored on ``rubric`` ('' if they can).

    A judgment names the rubric it was made under by version and content hash, and judging only
    ever uses the experiment's recorded rubric (an edited copy is refused at the save). So a
    judgment naming the recorded version with another hash means the record changed after
    judging: text and hash tag edited together pass the check of text against hash, and reading
    on would rescore every judgment silently under the new weights. Judgments of another version
    are no scores on this rubric at all (compare leaves them out); format-1 ones name no hash.
    """
    others = Counter(
        ref.content_hash
        for ref in judged_under
        if ref.version == rubric.version and ref.content_hash not in ("", rubric.content_hash)
    )
    if not others:
        return ""
    made = "; ".join(f"{n} judgment(s) under content hash {h}" for h, n in others.most_common())
    judged = others.most_common(1)[0][0]
    where = rubric.source or (str(rubric.path) if rubric.path else "the experiment")
    return (
        f"the rubric {rubric.version!r} recorded in {where} has content hash "
        f"{rubric.content_hash}, but the experiment's judgments were made under another text of "
        f"it ({made}): the recorded rubric was changed after judging, and reading on would rescore "
        f"every judgment under it. Restore the recorded rubric (its text and the content hash "
        f"beside it) to the text with content hash {judged}, the rubric file the experiment was "
        f"collected with; to score under the new text, save it as a new rubric version and "
        f"collect a new experiment with it (--rubric FILE --experiment NEW)"
    )


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
    pairs: list[PairJudgment] = field(default_factory=list)
    """The pairwise judgments (section 13), each judge's latest per pair as the store held it."""

    def __post_init__(self) -> None:
        """Refuse records whose judgments name another text of the rubric (see
        :func:`changed_since_judged`): every reader of an experiment builds these records, so
        none can score judgments on a rubric changed under them."""
        problem = changed_since_judged(self.rubric, (j.rubric for j in self.judgments if j.ok))
        if problem:
            raise RubricConflict(problem)

    def latest(self, *more: Iterable[Judgment]) -> dict[tuple[str, str], Judgment]:
        """(candidate, judge) → the judgment that counts, over these and ``more`` (a journal's)."""
        return latest_per_pair(self.judgments, *more)

    def latest_pairs(self, *more: Iterable[PairJudgment]) -> dict[tuple[str, str], PairJudgment]:
        """(pair, judge) → the pairwise judgment that counts, over these and ``more``."""
        return latest_pair_judgments(self.pairs, *more)

    def check_rubric(self, ref: RubricRef, what: str) -> None:
        """Refuse a judgment (or file of them) made under another rubric than the experiment's."""
        problem = self.rubric.other_rubric(ref.version, ref.content_hash)
        if problem:
            raise JudgingError(f"{what}: {problem}")
