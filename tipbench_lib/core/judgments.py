"""Which judgment counts: each judge's latest for a candidate, and a failed one is no score.

A judge revises a score by saving again and the journal keeps every record, so every reader needs
the same rule to pick the one that counts: the judge app (what is done, what a card shows), the
pending counts (an export, a cell run's ``tipbench.judge_pending`` tag) and the statistics. The
rule lives here, once, in the two shapes judgments come in: :func:`latest_per_pair` for records
(:class:`~tipbench_lib.core.records.Judgment`, from any number of sources at once: what MLflow
has and what the journals have are merged by this one rule), :func:`latest_judgments` for the
compare phase's frame. Both order by ``created_at``, a missing time first, and on equal times the
record met later wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

import polars as pl

from tipbench_lib.core.records import Judgment

KEY = ("candidate_id", "judge_id")
"""One judgment counts per candidate and judge."""


def latest_per_pair(*sources: Iterable[Judgment]) -> dict[tuple[str, str], Judgment]:
    """(candidate, judge) → the judgment that counts, over every source in the order given."""
    latest: dict[tuple[str, str], Judgment] = {}
    for source in sources:
        for judgment in source:
            kept = latest.get(judgment.key)
            if kept is None or judgment.time >= kept.time:
                latest[judgment.key] = judgment
    return latest


def latest_judgments(judgments: pl.DataFrame) -> pl.DataFrame:
    """One row per (candidate, judge): the one that counts, by the same rule as the records."""
    if "created_at" in judgments.columns:
        judgments = judgments.sort("created_at", nulls_last=False, maintain_order=True)
    return judgments.unique(subset=list(KEY), keep="last", maintain_order=True)


def judges_per_candidate(judgments: Iterable[Judgment]) -> Counter[str]:
    """How many judges have a score that counts for each candidate."""
    return Counter(cid for (cid, _), j in latest_per_pair(judgments).items() if j.ok)


def pending_candidates(
    candidate_ids: Collection[str], judgments: Iterable[Judgment], required: int
) -> list[str]:
    """The candidates, in the order given, that still lack scores from ``required`` judges."""
    judges = judges_per_candidate(judgments)
    return [cid for cid in candidate_ids if judges[cid] < required]
