"""The explorer: every tip of every cell, side by side per scenario, with its judges' scores.

The report and the app showed only each cell's best and worst tip (issue 22): a researcher
could not read what the cells wrote for one scenario, nor why a judge scored as it did. This
module builds the explorer's data once, as plain frames, so the notebook and the report only
render them and tests reach them without a browser (docs/architecture.md §2):

- :func:`tip_table`: one row per tip (scenario, cell, text, automatic flags, near repeat) with,
  per judge of the analysis's view, the judge's composite, dimension scores and note (the LLM
  judge's reason is its note, ``judge/llm``), and the spread between judges (``disagreement``);
- :func:`filter_tips`: the explorer's filters (scenario, cells, a dimension's low scores,
  judges who disagree by at least so much, near repeats only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tipbench_lib.core.bigrams import is_near_repeat
from tipbench_lib.core.schema import AUTO_SUFFIX

JUDGE_COLUMNS = ("judge_id", "judge_kind", "composite", "note")


@dataclass(frozen=True)
class TipFilter:
    """What the explorer shows; empty or None means no filter on that."""

    scenario: str | None = None
    cells: tuple[str, ...] = ()
    """``model:prompt`` labels."""
    dimension: str | None = None
    """Keep tips some judge scored at most ``low_score`` on this dimension."""
    low_score: int = 2
    min_disagreement: float | None = None
    """Keep tips whose judges' composites differ by at least this much."""
    near_repeats: bool = False


def near_repeat_flags(tips: pl.DataFrame) -> pl.Series:
    """Whether each tip nearly repeats an earlier tip of its cell and scenario (the same rule
    as compare's diversity and collect's ``--diversity``: ``core/bigrams``)."""
    flags: dict[str, bool] = {}
    for _, group in tips.sort("sample_index").group_by(["cell_id"], maintain_order=True):
        earlier: list[str] = []
        for cid, text in zip(group["candidate_id"], group["text"], strict=True):
            flags[cid] = is_near_repeat(text or "", earlier)
            earlier.append(text or "")
    return pl.Series("near_repeat", [flags[c] for c in tips["candidate_id"]], pl.Boolean)


def tip_table(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    *,
    dimensions: Sequence[str],
    judges: Sequence[str] | None = None,
    notes: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tips (one row each) and their judgments (one row per tip and judge).

    ``judges`` limits the judgments to a view's judges (None: all). ``notes`` holds
    ``candidate_id, judge_id, note`` (the judges' notes, the LLM judge's reason among them).
    """
    auto = [c for c in candidates.columns if c.endswith(AUTO_SUFFIX)]
    tips = (
        candidates.select("candidate_id", "cell_id", "sample_index", "text", *auto)
        .join(
            cells.select("cell_id", "model", "prompt_version", "scenario_id"),
            on="cell_id",
            how="inner",
        )
        .with_columns(cell=pl.col("model") + pl.lit(":") + pl.col("prompt_version"))
    )
    tips = tips.with_columns(near_repeat_flags(tips))
    scored = judgments if judges is None else judgments.filter(pl.col("judge_id").is_in(judges))
    keep = ["candidate_id", "judge_id", "judge_kind", *dimensions, "composite"]
    scored = scored.select([c for c in keep if c in scored.columns])
    if notes is not None and notes.height:
        scored = scored.join(
            notes.select("candidate_id", "judge_id", "note"),
            on=["candidate_id", "judge_id"],
            how="left",
        )
    else:
        scored = scored.with_columns(note=pl.lit(None, pl.String))
    spread = scored.group_by("candidate_id").agg(
        n_judges=pl.col("judge_id").n_unique(),
        composite=pl.col("composite").mean(),
        disagreement=pl.col("composite").max() - pl.col("composite").min(),
    )
    tips = (
        tips.join(spread, on="candidate_id", how="left")
        .with_columns(pl.col("n_judges").fill_null(0))
        .sort("scenario_id", "model", "prompt_version", "sample_index")
    )
    return tips, scored.sort("candidate_id", "judge_id")


def filter_tips(tips: pl.DataFrame, scored: pl.DataFrame, chosen: TipFilter) -> pl.DataFrame:
    """The tips the explorer shows for ``chosen`` (see :class:`TipFilter`)."""
    shown = tips
    if chosen.scenario:
        shown = shown.filter(pl.col("scenario_id") == chosen.scenario)
    if chosen.cells:
        shown = shown.filter(pl.col("cell").is_in(list(chosen.cells)))
    if chosen.near_repeats:
        shown = shown.filter(pl.col("near_repeat"))
    if chosen.min_disagreement is not None:
        shown = shown.filter(pl.col("disagreement") >= chosen.min_disagreement)
    if chosen.dimension and chosen.dimension in scored.columns:
        low = scored.filter(pl.col(chosen.dimension) <= chosen.low_score)["candidate_id"]
        shown = shown.filter(pl.col("candidate_id").is_in(low.implode()))
    return shown


def side_by_side(tips: pl.DataFrame) -> list[tuple[str, list[tuple[str, pl.DataFrame]]]]:
    """``[(scenario, [(cell, its tips), ...]), ...]``: the order the explorer lays them out."""
    out = []
    for (scenario,), by_scenario in tips.group_by(["scenario_id"], maintain_order=True):
        columns = [
            (str(cell), group)
            for (cell,), group in by_scenario.group_by(["cell"], maintain_order=True)
        ]
        out.append((str(scenario), columns))
    return out
