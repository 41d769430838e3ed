"""Who each cell's mean rests on, and whether the cells of a view rest on the same judges.

A cell's mean composite (:mod:`.leaderboard`) averages whichever judges of the view scored the
cell: per tip the mean over its judges, per scenario the mean over tips, then the mean over
scenarios. A judge's constant bias therefore moves a cell's mean by the judge's **weight** in
that mean (its share of each tip, averaged over the tips of a scenario, then over scenarios)
times the bias. Two cells whose means give a harsh judge different weights differ by that much
for the judge, not the tips; the comparisons (:mod:`.pairs`) pair on shared judges and are immune,
the ranking by mean is not.

The rule (:data:`TOLERANCE`): the cells of a view count as scored by the **same judges** when
every judge's weight is within 10 percentage points across the cells (a judge who did not score
a cell has weight 0 there). Otherwise the view's judges are **mixed**: the ranking by mean is
not a verdict, and each cell whose weight of some judge is more than half the tolerance away
from that judge's median weight over the cells is marked (``judge_note``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS

TOLERANCE = 0.10
"""Largest spread of one judge's weight across cells that still counts as the same judges."""

MIX_SCHEMA = {
    "model": pl.String,
    "prompt_version": pl.String,
    "judges": pl.String,
    "judge_note": pl.String,
}


def cell_judge_weights(judge_scores: pl.DataFrame) -> pl.DataFrame:
    """One row per (cell, judge who scored it): ``n_scores`` and ``weight`` in the cell's mean.

    ``judge_scores`` is :func:`~tipbench_lib.stats.scores.judge_scores`' frame (one row per
    judged candidate and judge). Weights of a cell sum to 1.
    """
    require_columns(
        judge_scores, [*CELL_KEYS, "scenario_id", "candidate_id", "judge_id"], "judge scores"
    )
    per_tip = judge_scores.with_columns(
        (1.0 / pl.len().over("candidate_id")).alias("_share"),
        pl.col("candidate_id").n_unique().over(*CELL_KEYS, "scenario_id").alias("_tips"),
    )
    per_scenario = per_tip.group_by(*CELL_KEYS, "scenario_id", "judge_id").agg(
        pl.len().alias("n_scores"), (pl.col("_share").sum() / pl.col("_tips").first()).alias("w")
    )
    n_scenarios = per_scenario.group_by(CELL_KEYS).agg(pl.col("scenario_id").n_unique().alias("_n"))
    return (
        per_scenario.group_by(*CELL_KEYS, "judge_id")
        .agg(pl.col("n_scores").sum().cast(pl.Int64), pl.col("w").sum().alias("_w"))
        .join(n_scenarios, on=list(CELL_KEYS))
        .with_columns((pl.col("_w") / pl.col("_n")).alias("weight"))
        .select(*CELL_KEYS, "judge_id", "n_scores", "weight")
        .sort(*CELL_KEYS, "judge_id")
    )


@dataclass(frozen=True)
class JudgeMix:
    """Who scored each cell, and whether the cells rest on the same judges."""

    cells: pl.DataFrame
    """model, prompt_version, judges (``ana 12 (50%), bo 12 (50%)``), judge_note ('' if none)."""
    weights: pl.DataFrame
    """One row per (cell, judge): n_scores and weight, 0 where a judge did not score a cell."""
    mixed: bool
    spread: dict[str, tuple[float, float]]
    """Per judge whose weight spreads beyond the tolerance: (lowest, highest) weight."""
    tolerance: float = TOLERANCE

    @property
    def sentence(self) -> str:
        """The warning where the ranking is shown ('' when the cells share their judges)."""
        if not self.mixed:
            return ""
        parts = []
        for judge, (low, high) in self.spread.items():
            if low == 0:
                n_with = self.weights.filter(
                    (pl.col("judge_id") == judge) & (pl.col("weight") > 0)
                ).height
                parts.append(f"{judge} scored {n_with} of {self.cells.height} cells")
            else:
                parts.append(f"{judge} carries {_pct(low)} to {_pct(high)} of a cell's mean")
        marked = self.cells.filter(pl.col("judge_note") != "").height
        return (
            "The cells were not scored by the same judges ("
            + "; ".join(parts)
            + f"), so a cell's mean carries its own judges' leniency: the ranking by mean is not "
            f"a verdict. The comparisons, made on the judges who scored both cells, decide; "
            f"{marked} {'cell is' if marked == 1 else 'cells are'} marked in the leaderboard's "
            "judge note."
        )


def judge_mix(judge_scores: pl.DataFrame, tolerance: float = TOLERANCE) -> JudgeMix:
    """Each cell's judges and weights, and the view's verdict on them (module docstring)."""
    weights = cell_judge_weights(judge_scores)
    cells = weights.select(CELL_KEYS).unique()
    full = (
        cells.join(weights.select("judge_id").unique(), how="cross")
        .join(weights, on=[*CELL_KEYS, "judge_id"], how="left")
        .with_columns(pl.col("n_scores").fill_null(0), pl.col("weight").fill_null(0.0))
        .with_columns(pl.col("weight").median().over("judge_id").alias("typical"))
        .sort(*CELL_KEYS, "judge_id")
    )
    ranges = (
        full.group_by("judge_id")
        .agg(pl.col("weight").min().alias("low"), pl.col("weight").max().alias("high"))
        .filter(pl.col("high") - pl.col("low") > tolerance + 1e-9)
        .sort("judge_id")
    )
    spread = {r["judge_id"]: (r["low"], r["high"]) for r in ranges.iter_rows(named=True)}
    rows = []
    for (model, prompt), group in full.group_by(CELL_KEYS, maintain_order=True):
        scored = group.filter(pl.col("n_scores") > 0).sort(
            ["weight", "judge_id"], descending=[True, False]
        )
        off = group.filter((pl.col("weight") - pl.col("typical")).abs() > tolerance / 2 + 1e-9)
        note = ""
        if spread and off.height:
            note = "other judges than most cells: " + ", ".join(
                f"{r['judge_id']} {_pct(r['weight'])} (cells' median {_pct(r['typical'])})"
                for r in off.iter_rows(named=True)
            )
        rows.append(
            {
                "model": model,
                "prompt_version": prompt,
                "judges": ", ".join(
                    f"{r['judge_id']} {r['n_scores']} ({_pct(r['weight'])})"
                    for r in scored.iter_rows(named=True)
                ),
                "judge_note": note,
            }
        )
    frame = pl.DataFrame(rows, schema=MIX_SCHEMA).sort(*CELL_KEYS)
    return JudgeMix(
        frame, full.drop("typical"), mixed=bool(spread), spread=spread, tolerance=tolerance
    )


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"
