"""Snapshots written by hand: every composite given, per cell, judge, scenario and tip.

The statistics' hard cases (a judge confounded with a cell, zero spread, too few scenarios for the
family) are easiest to see in frames whose every number was chosen, so these helpers build the
three frames of ``tipbench_lib.core.schema`` from nested lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import polars as pl

from tipbench_lib.core.schema import CELLS
from tipbench_lib.validation.synthetic import CANDIDATES, JUDGMENTS

Scores = Mapping[tuple[str, str], Mapping[str, Sequence[float | Sequence[float]]]]
"""``scores[(model, prompt)][judge_id][s]``: scenario s's composite, or one per tip."""


def dimensions_for(composite: float) -> tuple[int, int, int]:
    """Three 1-5 scores whose sum is ``composite - 2`` (format_ok counts 2 in tip-v1)."""
    total = int(round(composite)) - 2
    if not 3 <= total <= 15:
        raise ValueError(f"composite {composite} is outside what tip-v1 allows with format_ok")
    relevance = min(5, total - 2)
    actionability = min(5, total - relevance - 1)
    return relevance, actionability, total - relevance - actionability


def frames(
    scores: Scores, kinds: Mapping[str, str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """cells, candidates, judgments with exactly the given composites (kind defaults to human)."""
    kinds = kinds or {}
    cells, candidates, judgments = [], [], []
    for (model, prompt), by_judge in scores.items():
        n_scenarios = max(len(per_scenario) for per_scenario in by_judge.values())
        for s in range(n_scenarios):
            cell_id = f"{model}|{prompt}|s{s:02d}"
            cells.append(
                {
                    "cell_id": cell_id,
                    "model": model,
                    "prompt_version": prompt,
                    "scenario_id": f"s{s:02d}",
                    "persona": "nurse",
                    "time_slot": "morning",
                }
            )
            n_tips = max(len(_tips(per[s])) for per in by_judge.values() if s < len(per))
            for k in range(n_tips):
                candidate_id = f"{cell_id}#{k}"
                candidates.append(
                    {
                        "candidate_id": candidate_id,
                        "cell_id": cell_id,
                        "sample_index": k,
                        "text": f"Tip {k}: drink water before the meeting.",
                        "latency_s": 1.0,
                        "eval_tokens": 20,
                        "tokens_per_s": 30.0,
                        "format_ok_auto": True,
                        "overlong_auto": False,
                    }
                )
                for judge, per_scenario in by_judge.items():
                    if s >= len(per_scenario) or per_scenario[s] is None:
                        continue
                    value = _tips(per_scenario[s])[k]
                    kind = kinds.get(judge, "human")
                    judgments.append(judgment(candidate_id, judge, kind, value))
    return (
        pl.DataFrame(cells, schema=CELLS),
        pl.DataFrame(candidates, schema=CANDIDATES),
        pl.DataFrame(judgments, schema=JUDGMENTS),
    )


def _tips(value: float | Sequence[float]) -> list[float]:
    return list(value) if isinstance(value, Sequence) else [value]


def judgment(candidate_id: str, judge: str, kind: str, composite: float) -> dict:
    relevance, actionability, tone = dimensions_for(composite)
    return {
        "candidate_id": candidate_id,
        "judge_id": judge,
        "judge_kind": kind,
        "rubric_version": "tip-v1",
        "relevance": relevance,
        "actionability": actionability,
        "tone": tone,
        "format_ok": True,
        "overlong": False,
        "composite": float(relevance + actionability + tone + 2),
        "created_at": datetime(2025, 1, 1, 12, tzinfo=UTC),
    }
