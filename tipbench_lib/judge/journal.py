"""The judge journal: one append-only, fsynced file per judge, its key and its folder.

Nothing a judge does may be lost, so a save appends to the judge's own journal
(``journal/<experiment key>/judgments/<judge key>.jsonl``, keys from
:func:`tipbench_lib.core.journal.name_key`, so judges ``a b`` and ``a_b`` never share one) before
MLflow is touched, and everything a card shows is read back from that file (docs/architecture.md,
section 9). One file per judge because ``marimo run`` gives every browser its own kernel: two
judges never write the same file. The journal keeps every record; the latest one per (candidate,
judge) counts (:mod:`tipbench_lib.core.judgments`), so revising a score is just saving again.
Pairwise judgments (docs/architecture.md, section 13) are records of type ``pair`` in the same
file, under the same rule per (pair, judge). Every
read checks the ``judge_id`` each record carries, so a record of another judge is never counted as
this judge's. The session (:mod:`.session`), the people's queue (:mod:`.queue`) and the sender
(:mod:`.delivery`) all read the journals through this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.experiment import ExperimentRecords
from tipbench_lib.core.journal import (
    Journal,
    JournalWarning,
    experiment_dir,
    judge_key,
    legacy_experiment_dir,
    own_records,
)
from tipbench_lib.core.journal_legacy import adopt_judgments
from tipbench_lib.core.judgments import latest_pair_judgments, latest_per_pair
from tipbench_lib.core.records import Judgment, PairJudgment, now_iso

JUDGMENT = "judgment"
PAIR = "pair"
QUEUE = "queue"


def judgments_dir(experiment: str, home: Path | None = None) -> Path:
    return experiment_dir(experiment, home) / "judgments"


def adopt_legacy_judgments(
    experiment: str, cell_ids: Collection[str], home: Path | None = None
) -> None:
    """Take this experiment's judgments out of the old layout's shared folder, once.

    See :mod:`tipbench_lib.core.journal_legacy`: a judgment moves to the keyed journal of exactly
    the judge id it carries, and only when its cell is one of this experiment's runs.
    """
    folder = judgments_dir(experiment, home)
    adopt_judgments(
        legacy_experiment_dir(experiment, home) / "judgments",
        folder,
        cell_ids,
        lambda judge: folder / f"{judge_key(judge)}.jsonl",
    )


# -- journals -----------------------------------------------------------------------------------


class JudgeJournal:
    """One judge's append-only journal of judgments (and the queue seed it was given)."""

    def __init__(
        self, experiment: str, judge_id: str, parts: Sequence[str], home: Path | None = None
    ) -> None:
        self.judge_id = judge_id
        self.parts = tuple(parts)
        self.path = judgments_dir(experiment, home) / f"{judge_key(judge_id)}.jsonl"
        self._journal = Journal(self.path)
        self.send_lock = self.path.with_name(f".{self.path.stem}.send.lock")
        """Held while this judge's latest scores are read and uploaded
        (:meth:`tipbench_lib.judge.delivery.JudgmentSyncer.sync_cell`): the app's sender and a
        reading command may both send them, and whichever goes second then reads a journal at
        least as new, so MLflow never keeps an older copy."""

    def append(self, judgment: Judgment) -> None:
        if judgment.judge_id != self.judge_id:
            raise JudgingError(
                f"record for judge {judgment.judge_id!r} sent to {self.judge_id!r}'s journal"
            )
        self._journal.append(judgment.to_json())

    def append_many(self, judgments: Sequence[Judgment]) -> None:
        for judgment in judgments:
            self.append(judgment)

    def append_pair(self, pair: PairJudgment) -> None:
        """Journal one pairwise judgment of this judge (fsynced before anything else happens)."""
        if pair.judge_id != self.judge_id:
            raise JudgingError(
                f"pairwise record for judge {pair.judge_id!r} sent to {self.judge_id!r}'s journal"
            )
        self._journal.append(pair.to_json())

    def pairs(self) -> list[PairJudgment]:
        """Every pairwise judgment this judge ever saved, revisions included, in the order
        written. A record that does not read as one (a hand edit) is skipped with a warning."""
        return list(_pairs_of(self._records(), self.path))

    def latest_pairs(self) -> dict[str, PairJudgment]:
        """pair_id → the pairwise judgment that counts for this judge."""
        return {pid: p for (pid, _), p in latest_pair_judgments(self.pairs()).items()}

    def _records(self) -> list[dict[str, Any]]:
        return list(own_records(self._journal, "judge_id", self.judge_id))

    def judgments(self) -> list[Judgment]:
        """Every judgment this judge ever saved, revisions included, in the order written."""
        return [
            Judgment.from_json(r, self.parts) for r in self._records() if r.get("type") == JUDGMENT
        ]

    def latest(self) -> dict[str, Judgment]:
        """candidate_id → the judgment that counts for this judge."""
        return {cid: j for (cid, _), j in latest_per_pair(self.judgments()).items()}

    def history(self, candidate_id: str) -> list[Judgment]:
        return [j for j in self.judgments() if j.candidate_id == candidate_id]

    def records_of(self, kind: str) -> list[dict[str, Any]]:
        """This judge's records of one type (``queue``, ``plan``, ``family``, ``sampling``)."""
        return [r for r in self._records() if r.get("type") == kind]

    def append_record(self, record: dict[str, Any]) -> None:
        """A queue record (plan, family, sampling) of this judge, journalled like a score."""
        self._journal.append({**record, "judge_id": self.judge_id})

    def queue_seed(self, default: int) -> int:
        """The seed this judge's order was shuffled with: recorded once, reused on every resume."""
        for rec in self._records():
            if rec.get("type") == QUEUE:
                return int(rec["seed"])
        self._journal.append(
            {"type": QUEUE, "judge_id": self.judge_id, "seed": default, "created_at": now_iso()}
        )
        return default


def local_judgments(
    experiment: str, parts: Sequence[str], home: Path | None = None
) -> list[Judgment]:
    """Every judge's journalled judgments on this machine (all kernels, the LLM judge, imports).

    A file counts only for the judge its name is keyed to; a record of any other judge in it is
    left out with a warning. ``parts`` are the score ids of the experiment's rubric.
    """
    folder = judgments_dir(experiment, home)
    judgments: list[Judgment] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        judgments.extend(
            Judgment.from_json(r, parts)
            for r in own_records(Journal(path), "judge_id", _keyed_to(path.stem))
            if r.get("type") == JUDGMENT
        )
    return judgments


def local_pairs(experiment: str, home: Path | None = None) -> list[PairJudgment]:
    """Every judge's journalled pairwise judgments on this machine, as :func:`local_judgments`."""
    folder = judgments_dir(experiment, home)
    pairs: list[PairJudgment] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        records = own_records(Journal(path), "judge_id", _keyed_to(path.stem))
        pairs.extend(_pairs_of(records, path))
    return pairs


def _pairs_of(records: Iterable[dict[str, Any]], path: Path) -> Iterator[PairJudgment]:
    """The ``pair`` records as judgments; one that is not a valid pairwise judgment is named in
    one warning per file and skipped (only a hand edit makes one: the app writes valid ones)."""
    bad: list[str] = []
    for record in records:
        if record.get("type") != PAIR:
            continue
        try:
            yield PairJudgment.from_json(record)
        except (JudgingError, KeyError, TypeError, ValueError) as exc:
            bad.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if bad:
        warnings.warn(
            f"{path}: {len(bad)} pairwise record(s) skipped, they do not read as pairwise "
            f"judgments (first: {bad[0]}); they were not used or sent anywhere",
            JournalWarning,
            stacklevel=2,
        )


def _keyed_to(stem: str) -> Callable[[Any], bool]:
    """Whether a record's judge id is the one a journal file's name was made from."""
    return lambda judge: isinstance(judge, str) and bool(judge.strip()) and judge_key(judge) == stem


def open_journals(records: ExperimentRecords, home: Path | None = None) -> dict[str, list[str]]:
    """The experiment's candidates by cell (cell id → candidate ids), once this machine's journals
    are ready for them: the old layout's judgments adopted, and any journalled under another
    rubric refused (:meth:`ExperimentRecords.check_rubric`), scores and pairwise judgments alike,
    so they never join this experiment's.

    Every judge session and every reading command that sends a journal (:mod:`.delivery`) opens
    the experiment's journals here, so both refuse the same things with the same words.
    """
    by_cell: dict[str, list[str]] = {}
    for candidate in records.candidates:
        if candidate.cell_id in records.cells:
            by_cell.setdefault(candidate.cell_id, []).append(candidate.candidate_id)
    if not by_cell:
        raise JudgingError(
            f"experiment {records.name!r} has no finished cells with candidates to judge; "
            "run `tipbench collect` for it first"
        )
    adopt_legacy_judgments(records.name, set(by_cell) | set(records.run_ids), home)
    for judgment in local_judgments(records.name, records.rubric.part_ids, home):
        records.check_rubric(
            judgment.rubric,
            f"a judgment by {judgment.judge_id!r} journalled on this machine (in "
            f"{judgments_dir(records.name, home)})",
        )
    for pair in local_pairs(records.name, home):
        records.check_rubric(
            pair.rubric,
            f"a pairwise judgment by {pair.judge_id!r} journalled on this machine (in "
            f"{judgments_dir(records.name, home)})",
        )
    return by_cell
