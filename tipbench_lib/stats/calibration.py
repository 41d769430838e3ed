"""Judge calibration: where an LLM judge agrees with people, and which judges reward length.

A researcher deciding whether to let an LLM judge carry a verdict (alone, or through
:mod:`.ppi`) needs to see, per dimension, how it relates to the people: whether it ranks tips the
same way (Spearman's rank correlation), whether it is systematically harsher or kinder (mean bias,
LLM minus people), and whether the two could stand in for each other (Krippendorff's alpha at the
interval level, since the people's side is a mean of several judges and no longer on the 1-5
grid). :func:`tipbench_lib.stats.llm_vs_human` computes these for all LLM judges pooled; here each
LLM judge gets its own rows. Beside them, every judge's verbosity slope from
:func:`tipbench_lib.stats.length_adjusted` (composite points per SD of log length): an LLM judge
whose slope is far above the people's rewards length, not quality.
"""

from __future__ import annotations

import polars as pl

from tipbench_lib.core.judgments import latest_judgments
from tipbench_lib.core.schema import PEOPLE_KINDS, require_columns
from tipbench_lib.stats.agreement import llm_vs_human
from tipbench_lib.stats.length_adjusted import judgment_scores, length_adjusted
from tipbench_lib.stats.scale import ScoreScale

CALIBRATION_SCHEMA = {
    "judge_id": pl.String,
    "dimension": pl.String,
    "n_items": pl.Int64,
    "alpha": pl.Float64,
    "mean_bias": pl.Float64,
    "spearman": pl.Float64,
}
SLOPE_SCHEMA = {
    "judge_id": pl.String,
    "kind": pl.String,
    "gamma": pl.Float64,
    "gamma_lo": pl.Float64,
    "gamma_hi": pl.Float64,
    "n_tips": pl.Int64,
    "note": pl.String,
}


def llm_calibration(judgments: pl.DataFrame, scale: ScoreScale | None = None) -> pl.DataFrame:
    """Per LLM judge and dimension (and the composite): alpha, mean bias and Spearman against
    the people's mean score of the same tips. An LLM judge that scored no tip a person scored
    has no rows; empty when no LLM judge or no person judged.

    ``scale`` is the experiment's rubric's; without it the rubric the judgments name is looked
    up on this machine, which fails for a rubric only the experiment carries."""
    require_columns(judgments, ["candidate_id", "judge_id", "judge_kind"], "judgments")
    latest = latest_judgments(judgments)
    people = latest.filter(pl.col("judge_kind").is_in(PEOPLE_KINDS))
    llm_ids = sorted(latest.filter(pl.col("judge_kind") == "llm")["judge_id"].unique().to_list())
    frames = []
    if people.height:
        for judge in llm_ids:
            one = pl.concat([latest.filter(pl.col("judge_id") == judge), people])
            rows = llm_vs_human(one, scale).rename({"mean_diff": "mean_bias"})
            rows = rows.filter(pl.col("n_items") > 0)
            frames.append(rows.with_columns(pl.lit(judge).alias("judge_id")))
    if not frames:
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    return pl.concat(frames).select(list(CALIBRATION_SCHEMA)).cast(CALIBRATION_SCHEMA)


def length_slopes(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    alpha: float = 0.05,
    scale: ScoreScale | None = None,
) -> pl.DataFrame:
    """Every judge's verbosity slope (people and LLM judges alike), with its kind (``scale`` as
    for :func:`llm_calibration`)."""
    scores = judgment_scores(cells, candidates, judgments, scale=scale)
    if scores.height == 0:
        return pl.DataFrame(schema=SLOPE_SCHEMA)
    slopes = length_adjusted(scores, alpha=alpha).slopes
    kinds = (
        latest_judgments(judgments)
        .group_by("judge_id")
        .agg(pl.col("judge_kind").first().alias("kind"))
    )
    return (
        slopes.join(kinds, on="judge_id", how="left")
        .select(list(SLOPE_SCHEMA))
        .cast(SLOPE_SCHEMA)
        .sort("judge_id")
    )
