"""Which judgment counts: each judge's latest for a candidate, and a failed one is no score.

A judge revises a score by saving again and the journal keeps every record, so every reader needs
the same rule to pick the one that counts: the judge app (what is done, what a card shows), the
pending counts (an export, a cell run's ``tipbench.judge_pending`` tag) and the statistics. The
rule lives here, once, in the two shapes judgments come in: :func:`latest_per_pair` for journal
records, :func:`latest_judgments` for the compare phase's frame. Both order by ``created_at``, a
missing time first, and on equal times the record written later wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

KEY = ("candidate_id", "judge_id")
"""One judgment counts per candidate and judge."""


def is_score(record: Mapping[str, Any]) -> bool:
    """Whether a record holds scores: a failed LLM judgment is kept, but never counted."""
    return record.get("status", "ok") == "ok"


def created_at(value: Any) -> datetime:
    """A record's time: journals carry ISO strings, frames datetimes; a missing one sorts first."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def latest_per_pair(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(candidate, judge) → the record that counts (see the module docstring)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        key = (rec["candidate_id"], rec["judge_id"])
        if key not in latest or created_at(rec.get("created_at")) >= created_at(
            latest[key].get("created_at")
        ):
            latest[key] = dict(rec)
    return latest


def latest_judgments(judgments: pl.DataFrame) -> pl.DataFrame:
    """One row per (candidate, judge): the one that counts, by the same rule as the records."""
    if "created_at" in judgments.columns:
        judgments = judgments.sort("created_at", nulls_last=False, maintain_order=True)
    return judgments.unique(subset=list(KEY), keep="last", maintain_order=True)


def judges_per_candidate(records: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """How many judges have a score that counts for each candidate."""
    return Counter(cid for (cid, _), rec in latest_per_pair(records).items() if is_score(rec))


def pending_candidates(
    candidate_ids: Collection[str], records: Iterable[Mapping[str, Any]], required: int
) -> list[str]:
    """The candidates, in the order given, that still lack scores from ``required`` judges."""
    judges = judges_per_candidate(records)
    return [cid for cid in candidate_ids if judges[cid] < required]
