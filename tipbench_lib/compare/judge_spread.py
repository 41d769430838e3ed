"""Each judge's score distribution per dimension, with near-constant ones flagged (issue 22).

A weak judge was explained only by its size, while the data says it plainly: an LLM judge that
gives relevance 1 to every tip of four cells out of six cannot tell those cells apart on
relevance, whatever its agreement elsewhere. Per judge and dimension: how many tips got each
score, the share of the most frequent score, and the cells where the judge gave one score only.
A dimension is *near-constant* for a judge when one score takes at least ``NEAR_CONSTANT`` of
its scores: its differences between cells then rest on a handful of tips.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

NEAR_CONSTANT = 0.9


def judge_spread(
    judgments: pl.DataFrame,
    candidates: pl.DataFrame,
    cells: pl.DataFrame,
    dimensions: Sequence[str],
    scores: Sequence[int],
) -> pl.DataFrame:
    """One row per judge and dimension: ``n``, ``score_<k>`` counts, ``mode``, ``mode_share``,
    ``constant_cells`` (cells given one score only, of ``n_cells``), ``near_constant``."""
    # a cell here is a model and prompt (a cell_id is one scenario of it)
    cell_of = candidates.select("candidate_id", "cell_id").join(
        cells.select("cell_id", (pl.col("model") + ":" + pl.col("prompt_version")).alias("cell")),
        on="cell_id",
        how="inner",
    )
    rows = []
    frame = judgments.join(cell_of.drop("cell_id"), on="candidate_id", how="inner")
    for judge in sorted(frame["judge_id"].unique().to_list()):
        mine = frame.filter(pl.col("judge_id") == judge)
        for dim in dimensions:
            if dim not in mine.columns:
                continue
            values = mine.select("cell", dim).drop_nulls()
            if values.height == 0:
                continue
            counts = {k: int((values[dim] == k).sum()) for k in scores}
            mode = max(counts, key=lambda k: counts[k])
            per_cell = values.group_by("cell").agg(pl.col(dim).n_unique().alias("k"))
            share = counts[mode] / values.height
            rows.append(
                {
                    "judge_id": judge,
                    "dimension": dim,
                    "n": values.height,
                    **{f"score_{k}": counts[k] for k in scores},
                    "mode": mode,
                    "mode_share": share,
                    "constant_cells": int((per_cell["k"] == 1).sum()),
                    "n_cells": per_cell.height,
                    "near_constant": share >= NEAR_CONSTANT,
                }
            )
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def spread_sentences(spread: pl.DataFrame) -> tuple[str, ...]:
    """One sentence per near-constant judge and dimension."""
    if spread.height == 0:
        return ()
    out = []
    for r in spread.filter(pl.col("near_constant")).iter_rows(named=True):
        out.append(
            f"{r['judge_id']} gave {r['dimension']} {r['mode']} to "
            f"{r['score_' + str(r['mode'])]} of the {r['n']} tips it scored "
            f"(one score only in {r['constant_cells']} of "
            f"{r['n_cells']} cells): its {r['dimension']} scores barely separate cells."
        )
    return tuple(out)
