"""Which judgment counts: each judge's latest for a candidate, and a failed one is no score.

A judge revises a score by saving again and the journal keeps every record, so every reader needs
the same rule to pick the one that counts: the judge app (what is done, what a card shows), the
pending counts (an export, a cell run's ``tipbench.judge_pending`` tag) and the statistics. The
rule lives here, once, in the two shapes judgments come in: :func:`latest_per_key` for records
(from any number of sources at once: what MLflow has and what the journals have are merged by this
one rule), :func:`latest_rows` for the frames. Both order by ``created_at``, a missing time first,
and on equal times the record met later wins.

Scores and pairwise choices (docs/architecture.md, section 13) follow the same rule on their own
keys: :func:`latest_per_pair` / :func:`latest_judgments` for scores, one per (candidate, judge);
:func:`latest_pair_judgments` / :func:`latest_pair_rows` for pairwise judgments, one per
(pair, judge).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import polars as pl

from tipbench_lib.core.records import Judgment, PairJudgment

KEY = ("candidate_id", "judge_id")
"""One judgment counts per candidate and judge."""
PAIR_KEY = ("pair_id", "judge_id")
"""One pairwise judgment counts per pair of tips and judge."""


class Keyed(Protocol):
    """A record the rule applies to: its key, and the time it was made."""

    @property
    def key(self) -> tuple[str, str]: ...

    @property
    def time(self) -> datetime: ...


R = TypeVar("R", bound=Keyed)


def latest_per_key(*sources: Iterable[R]) -> dict[tuple[str, str], R]:
    """key → the record that counts, over every source in the order given (the rule)."""
    latest: dict[tuple[str, str], R] = {}
    for source in sources:
        for record in source:
            kept = latest.get(record.key)
            if kept is None or record.time >= kept.time:
                latest[record.key] = record
    return latest


def latest_per_pair(*sources: Iterable[Judgment]) -> dict[tuple[str, str], Judgment]:
    """(candidate, judge) → the judgment that counts, over every source in the order given."""
    return latest_per_key(*sources)


def latest_pair_judgments(
    *sources: Iterable[PairJudgment],
) -> dict[tuple[str, str], PairJudgment]:
    """(pair, judge) → the pairwise judgment that counts, over every source in the order given."""
    return latest_per_key(*sources)


def latest_rows(frame: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """One row per ``key``: the one that counts, by the same rule as the records."""
    if "created_at" in frame.columns:
        frame = frame.sort("created_at", nulls_last=False, maintain_order=True)
    return frame.unique(subset=list(key), keep="last", maintain_order=True)


def latest_judgments(judgments: pl.DataFrame) -> pl.DataFrame:
    """One row per (candidate, judge): the one that counts, by the same rule as the records."""
    return latest_rows(judgments, KEY)


def latest_pair_rows(pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per (pair, judge) of a pairs frame: the one that counts."""
    return latest_rows(pairs, PAIR_KEY)


def judges_per_candidate(judgments: Iterable[Judgment]) -> Counter[str]:
    """How many judges have a score that counts for each candidate."""
    return Counter(cid for (cid, _), j in latest_per_pair(judgments).items() if j.ok)


def pending_candidates(
    candidate_ids: Collection[str], judgments: Iterable[Judgment], required: int
) -> list[str]:
    """The candidates, in the order given, that still lack scores from ``required`` judges."""
    judges = judges_per_candidate(judgments)
    return [cid for cid in candidate_ids if judges[cid] < required]
