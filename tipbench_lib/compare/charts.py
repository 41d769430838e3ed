"""Altair charts of the compare phase: one function per chart, each fed by a stats frame.

Design choices that hold for every chart here:

- Data goes into the spec as plain inline values (a ``{"values": [...]}`` dict) of only the columns
  the chart uses. Altair's row limit (``MaxRowsError`` above 5,000 rows) only guards data frames
  handed to its data transformer, so inline values never trip it, and we change no global altair
  state to get there. NaN and infinities become ``null`` because browsers reject them in JSON.
- Colours are colour-blind-safe: Okabe-Ito as an explicit categorical range, viridis for the
  heatmap's sequential scale, and a fixed verdict palette so "better" is always the same blue.
- A cell of the grid is labelled ``model · prompt`` (:func:`tipbench_lib.core.cells.cell_label`), as
  everywhere else, so charts, tables and sentences read alike.
- Every range, dimension and title that depends on the scores is the experiment's rubric's
  (``rubric``; an experiment that recorded none was scored on tip-v1, the default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from tipbench_lib.core.cells import CELL_SEP, cell_label
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.rubric import Rubric, shipped_rubric
from tipbench_lib.core.schema import PAIR_COLUMNS, require_columns

AnyChart = alt.Chart | alt.LayerChart
"""What the chart functions return: a single view or a layered one; both serialise with to_dict."""

OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow: last, it is faint on white
)
"""Okabe & Ito (2008) palette, ordered so the faint yellow is used last."""

VERDICTS: tuple[str, ...] = ("better", "worse", "indistinguishable", "underpowered", "confounded")
VERDICT_COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#999999", "#CC79A7", "#E69F00")
"""One fixed colour per verdict (Okabe-Ito blue, vermillion, grey, reddish purple, orange)."""

WIDTH = 560
ROW_STEP = 18

# Krippendorff's conventional thresholds: >= 0.8 reliable, >= 0.667 tentative conclusions only.
ALPHA_RELIABLE = 0.8
ALPHA_TENTATIVE = 0.667


QUANT_AXIS = alt.Axis(tickCount=6, labelOverlap="greedy", labelSeparation=8)
"""A quantitative axis with few, non-colliding labels ("−2.0−1.8" ran together)."""


def _json_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Null out NaN/inf and stringify dates, which JSON (and so the browser) cannot carry."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            col = pl.col(name)
            exprs.append(pl.when(col.is_finite()).then(col).otherwise(None).alias(name))
        elif dtype.is_temporal():
            exprs.append(pl.col(name).cast(pl.String))
    return frame.with_columns(exprs) if exprs else frame


def _values(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Inline values of just these columns, as a plain ``{"values": [...]}`` dict.

    A dict is neither passed through altair's data transformer (so no row limit) nor validated
    row by row against the schema, which an ``alt.InlineData`` is: 6,000 rows cost 0.7 s that way.
    """
    return {"values": _json_safe(frame.select(columns)).to_dicts()}


def _with_label(
    frame: pl.DataFrame, model: str = "model", prompt: str = "prompt_version"
) -> pl.DataFrame:
    return frame.with_columns(
        pl.concat_str([pl.col(model), pl.lit(CELL_SEP), pl.col(prompt)]).alias("cell")
    )


def _pct(level: float) -> str:
    """The interval level as people write it (0.95 -> '95%'): charts take it from alpha."""
    return f"{100 * level:.1f}".rstrip("0").rstrip(".") + "%"


def _title(text: str, subtitle: str) -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle, anchor="start")


def _category_scale(domain: Sequence[str] | None = None) -> alt.Scale:
    if domain is None:
        return alt.Scale(range=list(OKABE_ITO))
    return alt.Scale(domain=list(domain), range=list(OKABE_ITO))


def _verdict_scale() -> alt.Scale:
    return alt.Scale(domain=list(VERDICTS), range=list(VERDICT_COLOURS))


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def placeholder(title: str, message: str) -> alt.Chart:
    """A chart that states why there is nothing to draw, so a report section never goes blank."""
    data = alt.InlineData(values=[{"message": message}])
    return (
        alt.Chart(data, title=_title(title, "nothing to plot"))
        .mark_text(fontSize=14, color="#444444", align="center")
        .encode(text="message:N")
        .properties(width=WIDTH, height=60)
    )


def _rubric(rubric: Rubric | None) -> Rubric:
    """The experiment's rubric; tip-v1 for an experiment that recorded none."""
    return rubric if rubric is not None else shipped_rubric()


def _nonempty(frame: pl.DataFrame, what: str) -> None:
    if frame.height == 0:
        raise TipbenchError(
            f"{what}: the frame has no rows; judge some candidates (or widen the filters) first"
        )


def _dots(
    base: alt.Chart, x: alt.X, y: alt.Y, size: int, opacity: float, by: tuple[str, str]
) -> alt.Chart:
    """Circles coloured by the category ``by`` (field, title) in the report's palette."""
    field, title = by
    return base.mark_circle(size=size, opacity=opacity).encode(
        x=x, y=y, color=alt.Color(f"{field}:N", title=title, scale=_category_scale())
    )


def _cell_groups(
    frame: pl.DataFrame, order: list[str], by: tuple[str, str], domain: list[str], scale: alt.Scale
) -> alt.Chart:
    """One row per cell (in ``order``) split into one band per ``by`` (field, title) value, each
    band coloured: dimensions of a cell, judges of a cell."""
    field, title = by
    return alt.Chart(_values(frame, frame.columns)).encode(
        y=alt.Y("cell:N", title="Model · prompt", sort=order),
        yOffset=alt.YOffset(f"{field}:N", sort=domain),
        color=alt.Color(f"{field}:N", title=title, scale=scale, sort=domain),
    )


def heatmap(
    leaderboard: pl.DataFrame, level: float = 0.95, *, rubric: Rubric | None = None
) -> alt.LayerChart:
    """Model × prompt grid of the mean composite, each cell showing its interval in writing.

    Writing the interval in the cell keeps a reader from ranking two cells by colour alone when
    their intervals overlap.
    """
    cols = ["model", "prompt_version", "composite_mean", "composite_lo", "composite_hi"]
    extra = [c for c in ("n_scenarios", "n_candidates") if c in leaderboard.columns]
    require_columns(leaderboard, cols, "heatmap")
    _nonempty(leaderboard, "heatmap")
    labels = [
        f"{_fmt(r['composite_mean'])}\n[{_fmt(r['composite_lo'])}, {_fmt(r['composite_hi'])}]"
        for r in leaderboard.select(cols).iter_rows(named=True)
    ]
    frame = leaderboard.select(cols + extra).with_columns(pl.Series("label", labels))
    # Colour spans the rubric's whole range, not the data's: cells 0.8 apart on a 15-point
    # scale must not look as far apart as its two ends (issue 22).
    low, high = _rubric(rubric).composite_range
    middle = (low + high) / 2
    tooltip = [
        alt.Tooltip("model:N", title="Model"),
        alt.Tooltip("prompt_version:N", title="Prompt"),
        alt.Tooltip("composite_mean:Q", title="Mean composite", format=".2f"),
        alt.Tooltip("composite_lo:Q", title=f"{_pct(level)} CI low", format=".2f"),
        alt.Tooltip("composite_hi:Q", title=f"{_pct(level)} CI high", format=".2f"),
    ] + [alt.Tooltip(f"{c}:Q", title=c.replace("_", " ")) for c in extra]
    base = alt.Chart(_values(frame, frame.columns)).encode(
        x=alt.X("prompt_version:N", title="Prompt version", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("model:N", title="Model"),
        tooltip=tooltip,
    )
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "composite_mean:Q",
            title="Mean composite",
            scale=alt.Scale(scheme="viridis", domain=[low, high]),
        )
    )
    text = base.mark_text(lineBreak="\n", fontSize=12, lineHeight=15).encode(
        text=alt.Text("label:N"),
        color=alt.condition(
            alt.datum.composite_mean < middle, alt.value("white"), alt.value("black")
        ),
    )
    n_prompts = frame["prompt_version"].n_unique()
    return alt.layer(rect, text).properties(
        title=_title(
            "Mean composite score by model and prompt",
            f"Each cell: mean composite ({_rubric(rubric).composite_text}) and its "
            f"{_pct(level)} interval over scenarios",
        ),
        width=max(110 * n_prompts, 240),
        height=alt.Step(46),
    )


def _cell_order(frame: pl.DataFrame, value: str) -> list[str]:
    """Cells from best to worst by ``value``, so every ranking chart reads top-down."""
    return frame.sort(value, descending=True, nulls_last=True)["cell"].to_list()


def forest_plot(
    leaderboard: pl.DataFrame, level: float = 0.95, *, rubric: Rubric | None = None
) -> alt.LayerChart:
    """Every cell's mean composite with its interval, best first: the leaderboard as a picture."""
    cols = ["model", "prompt_version", "composite_mean", "composite_lo", "composite_hi"]
    extra = [c for c in ("n_scenarios", "n_candidates", "rank") if c in leaderboard.columns]
    require_columns(leaderboard, cols, "forest plot")
    _nonempty(leaderboard, "forest plot")
    frame = _with_label(leaderboard.select(cols + extra))
    order = _cell_order(frame, "composite_mean")
    y = alt.Y("cell:N", title="Model · prompt", sort=order)
    tooltip = [
        alt.Tooltip("cell:N", title="Cell"),
        alt.Tooltip("composite_mean:Q", title="Mean composite", format=".2f"),
        alt.Tooltip("composite_lo:Q", title=f"{_pct(level)} CI low", format=".2f"),
        alt.Tooltip("composite_hi:Q", title=f"{_pct(level)} CI high", format=".2f"),
    ] + [alt.Tooltip(f"{c}:Q", title=c.replace("_", " ")) for c in extra]
    colour = alt.Color("prompt_version:N", title="Prompt", scale=_category_scale())
    base = alt.Chart(_values(frame, frame.columns)).encode(y=y, tooltip=tooltip, color=colour)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "composite_lo:Q",
            title=f"Mean composite ({_rubric(rubric).composite_text})",
            scale=alt.Scale(zero=False),
            axis=QUANT_AXIS,
        ),
        x2="composite_hi:Q",
    )
    dots = base.mark_point(filled=True, size=70).encode(x="composite_mean:Q")
    return alt.layer(bars, dots).properties(
        title=_title(
            f"Cell means with {_pct(level)} intervals",
            "Intervals over the scenario means; overlapping bars are not a test",
        ),
        width=WIDTH,
        height=alt.Step(ROW_STEP),
    )


def _against_baseline(comparisons: pl.DataFrame, baseline: tuple[str, str]) -> pl.DataFrame:
    """Rows comparing each cell with the baseline, flipped where needed so b is the baseline.

    compare_pairs puts the baseline in b when asked for one; an all-pairs frame may have it on
    either side, and flipping keeps "a − baseline" the one reading of every bar.
    """
    model, prompt = baseline
    is_b = (pl.col("b_model") == model) & (pl.col("b_prompt") == prompt)
    is_a = (pl.col("a_model") == model) & (pl.col("a_prompt") == prompt)
    as_b = comparisons.filter(is_b)
    flip = {"better": "worse", "worse": "better"}
    as_a = comparisons.filter(is_a & ~is_b).select(
        pl.col("b_model").alias("a_model"),
        pl.col("b_prompt").alias("a_prompt"),
        pl.col("a_model").alias("b_model"),
        pl.col("a_prompt").alias("b_prompt"),
        pl.col("n_scenarios"),
        (-pl.col("diff_mean")).alias("diff_mean"),
        (-pl.col("diff_hi")).alias("diff_lo"),
        (-pl.col("diff_lo")).alias("diff_hi"),
        pl.col("p_holm"),
        pl.col("verdict").replace(flip),
    )
    keep = as_a.columns
    return pl.concat([as_b.select(keep), as_a.select(keep)], how="vertical_relaxed")


def baseline_differences(
    comparisons: pl.DataFrame, baseline: tuple[str, str], level: float = 0.95
) -> AnyChart:
    """Paired differences (cell − baseline) over shared scenarios, coloured by verdict."""
    cols = [*PAIR_COLUMNS, "n_scenarios", "diff_mean", "diff_lo", "diff_hi", "p_holm", "verdict"]
    require_columns(comparisons, cols, "baseline differences")
    title = f"Paired difference from the baseline {cell_label(*baseline)}"
    frame = _against_baseline(comparisons, baseline)
    if frame.height == 0:
        return placeholder(title, f"No comparison involves {cell_label(*baseline)}.")
    frame = _with_label(frame, "a_model", "a_prompt")
    order = _cell_order(frame, "diff_mean")
    base = alt.Chart(_values(frame, frame.columns)).encode(
        y=alt.Y("cell:N", title="Model · prompt", sort=order),
        color=alt.Color("verdict:N", title="Verdict", scale=_verdict_scale()),
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("diff_mean:Q", title="Mean difference", format="+.2f"),
            alt.Tooltip("diff_lo:Q", title=f"{_pct(level)} CI low", format="+.2f"),
            alt.Tooltip("diff_hi:Q", title=f"{_pct(level)} CI high", format="+.2f"),
            alt.Tooltip("n_scenarios:Q", title="Shared scenarios"),
            alt.Tooltip("p_holm:Q", title="p (Holm)", format=".3g"),
            alt.Tooltip("verdict:N", title="Verdict"),
        ],
    )
    zero = (
        alt.Chart(alt.InlineData(values=[{"zero": 0}]))
        .mark_rule(color="#555555", strokeDash=[4, 3])
        .encode(x="zero:Q")
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("diff_lo:Q", title="Composite difference (cell − baseline)", axis=QUANT_AXIS),
        x2="diff_hi:Q",
    )
    dots = base.mark_point(filled=True, size=70).encode(x="diff_mean:Q")
    return alt.layer(zero, bars, dots).properties(
        title=_title(
            title, f"Mean of per-scenario differences on shared judges, {_pct(level)} interval"
        ),
        width=WIDTH,
        height=alt.Step(ROW_STEP),
    )


def scenario_dots(scenario_means: pl.DataFrame) -> alt.LayerChart:
    """One dot per scenario for each cell, with the cell mean as a tick.

    Shows whether a mean is carried by a few scenarios, which an interval alone hides.
    """
    cols = ["model", "prompt_version", "scenario_id", "composite"]
    extra = [c for c in ("n_tips",) if c in scenario_means.columns]
    require_columns(scenario_means, cols, "per-scenario dots")
    _nonempty(scenario_means, "per-scenario dots")
    frame = _with_label(scenario_means.select(cols + extra))
    means = frame.group_by("cell").agg(pl.col("composite").mean())
    order = _cell_order(means, "composite")
    y = alt.Y("cell:N", title="Model · prompt", sort=order)
    x = alt.X(
        "composite:Q",
        title="Composite, averaged over a scenario's tips",
        scale=alt.Scale(zero=False),
        axis=QUANT_AXIS,
    )
    base = alt.Chart(_values(frame, frame.columns))
    dots = _dots(base, x, y, 36, 0.55, ("prompt_version", "Prompt")).encode(
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("scenario_id:N", title="Scenario"),
            alt.Tooltip("composite:Q", title="Composite", format=".2f"),
        ]
        + [alt.Tooltip(f"{c}:Q", title="Tips") for c in extra],
    )
    ticks = base.mark_tick(color="black", thickness=2, size=14).encode(
        x=alt.X("mean(composite):Q"),
        y=y,
        tooltip=[alt.Tooltip("mean(composite):Q", title="Cell mean", format=".2f")],
    )
    return alt.layer(dots, ticks).properties(
        title=_title("Per-scenario scores", "Dots: one scenario each; black tick: the cell mean"),
        width=WIDTH,
        height=alt.Step(ROW_STEP),
    )


def dimension_breakdown(
    leaderboard: pl.DataFrame, level: float = 0.95, *, rubric: Rubric | None = None
) -> alt.LayerChart:
    """Every dimension of the rubric side by side per cell, each with its interval."""
    rubric = _rubric(rubric)
    dims = rubric.dimension_ids
    names = [rubric.dimension(d).name for d in dims]
    cols = ["model", "prompt_version", "composite_mean"]
    for d in dims:
        cols += [f"{d}_mean", f"{d}_lo", f"{d}_hi"]
    require_columns(leaderboard, cols, "per-dimension breakdown")
    _nonempty(leaderboard, "per-dimension breakdown")
    wide = _with_label(leaderboard.select(cols))
    order = _cell_order(wide, "composite_mean")
    long = pl.concat(
        [
            wide.select(
                "cell",
                pl.lit(name).alias("dimension"),
                pl.col(f"{d}_mean").alias("mean"),
                pl.col(f"{d}_lo").alias("lo"),
                pl.col(f"{d}_hi").alias("hi"),
            )
            for d, name in zip(dims, names, strict=True)
        ]
    )
    scale_text = rubric.scale_text
    groups = _cell_groups(long, order, ("dimension", "Dimension"), names, _category_scale(names))
    base = groups.encode(
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("dimension:N", title="Dimension"),
            alt.Tooltip("mean:Q", title=f"Mean ({scale_text})", format=".2f"),
            alt.Tooltip("lo:Q", title=f"{_pct(level)} CI low", format=".2f"),
            alt.Tooltip("hi:Q", title=f"{_pct(level)} CI high", format=".2f"),
        ],
    )
    scale = alt.Scale(domain=[rubric.scale_min, rubric.scale_max])
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lo:Q", title=f"Mean score ({scale_text})", scale=scale), x2="hi:Q"
    )
    dots = base.mark_point(filled=True, size=45).encode(x=alt.X("mean:Q", scale=scale))
    return alt.layer(bars, dots).properties(
        title=_title(
            "Scores per rubric dimension",
            f"Mean on the {scale_text} scale with {_pct(level)} intervals",
        ),
        width=WIDTH,
        height=alt.Step(9),  # per dimension: three make one 27 px row per cell
    )


def _front_cells(front: pl.DataFrame) -> set[tuple[str, str]]:
    """The (model, prompt) cells on the front, whether ``front`` holds only them or flags all."""
    rows = front.filter(pl.col("pareto")) if "pareto" in front.columns else front
    return set(zip(rows["model"].to_list(), rows["prompt_version"].to_list(), strict=True))


def quality_latency(
    leaderboard: pl.DataFrame, speed: pl.DataFrame, front: pl.DataFrame, level: float = 0.95
) -> AnyChart:
    """Quality against median latency, with the Pareto front drawn as a line.

    A cell off the front is beaten on both quality and speed by some cell on it, so the front is
    the short list a team should choose from.
    """
    cols = ["model", "prompt_version", "composite_mean", "composite_lo", "composite_hi"]
    require_columns(leaderboard, cols, "quality against latency")
    require_columns(speed, ["model", "latency_s_median"], "quality against latency (speed)")
    require_columns(front, ["model", "prompt_version"], "quality against latency (Pareto front)")
    title = "Quality against latency"
    speed_cols = ["model", "latency_s_median"] + [
        c for c in ("tokens_per_s_median",) if c in speed.columns
    ]
    frame = leaderboard.select(cols).join(speed.select(speed_cols), on="model", how="inner")
    frame = frame.filter(pl.col("latency_s_median").is_not_null())
    if frame.height == 0:
        return placeholder(title, "No latency was recorded for the judged cells.")
    on_front = _front_cells(front)
    flags = [
        (m, p) in on_front
        for m, p in zip(frame["model"].to_list(), frame["prompt_version"].to_list(), strict=True)
    ]
    frame = _with_label(frame).with_columns(
        pl.Series("pareto", flags),
        pl.Series("front", ["on the Pareto front" if f else "dominated" for f in flags]),
    )
    tooltip = [
        alt.Tooltip("cell:N", title="Cell"),
        alt.Tooltip("composite_mean:Q", title="Mean composite", format=".2f"),
        alt.Tooltip("latency_s_median:Q", title="Median latency (s)", format=".2f"),
        alt.Tooltip("front:N", title="Pareto"),
    ]
    if "tokens_per_s_median" in frame.columns:
        tooltip.append(
            alt.Tooltip("tokens_per_s_median:Q", title="Tokens/s (median)", format=".1f")
        )
    base = alt.Chart(_values(frame, frame.columns))
    x = alt.X(
        "latency_s_median:Q",
        title="Median latency per tip (s), lower is better",
        scale=alt.Scale(zero=True),  # from 0: 3.09 against 3.20 s is no difference to see
        axis=QUANT_AXIS,
    )
    y = alt.Y(
        "composite_mean:Q", title="Mean composite, higher is better", scale=alt.Scale(zero=False)
    )
    colour = alt.Color("model:N", title="Model", scale=_category_scale())
    bars = base.mark_rule(opacity=0.5).encode(
        x=x, y="composite_lo:Q", y2="composite_hi:Q", color=colour
    )
    line = (
        base.transform_filter(alt.datum.pareto)
        .mark_line(color="#333333", strokeDash=[5, 3], interpolate="step-after")
        .encode(x=x, y=alt.Y("composite_mean:Q"), order="latency_s_median:Q")
    )
    dots = base.mark_point(size=80).encode(
        x=x,
        y=y,
        color=colour,
        shape=alt.Shape(
            "front:N",
            title="Pareto",
            scale=alt.Scale(
                domain=["on the Pareto front", "dominated"], range=["diamond", "circle"]
            ),
            legend=None,  # the subtitle says it; a shape legend beside fill drew blank symbols
        ),
        fill=alt.condition(
            alt.datum.pareto,
            alt.Fill("model:N", scale=_category_scale(), legend=None),
            alt.value("white"),
        ),
        tooltip=tooltip,
    )
    labels = (
        base.transform_filter(alt.datum.pareto)
        .mark_text(align="left", dx=8, dy=-6, fontSize=11, color="#222222")
        .encode(x=x, y=y, text="cell:N")
    )
    return alt.layer(bars, line, dots, labels).properties(
        title=_title(
            title,
            "Filled diamonds on the dashed line: the Pareto front (no other cell is both better "
            f"and faster); vertical bars: {_pct(level)} intervals",
        ),
        width=WIDTH,
        height=360,
    )


def score_length(scores: pl.DataFrame) -> alt.LayerChart:
    """Composite against tip length, with a linear fit, so a verbose winner is visible."""
    cols = ["model", "prompt_version", "char_count", "composite"]
    extra = [c for c in ("scenario_id",) if c in scores.columns]
    require_columns(scores, cols, "score against length")
    _nonempty(scores, "score against length")
    frame = scores.select(cols + extra)
    base = alt.Chart(_values(frame, frame.columns))
    x = alt.X("char_count:Q", title="Tip length (characters)")
    y = alt.Y("composite:Q", title="Composite (mean over judges)", scale=alt.Scale(zero=False))
    dots = _dots(base, x, y, 22, 0.4, ("model", "Model")).encode(
        tooltip=[
            alt.Tooltip("model:N", title="Model"),
            alt.Tooltip("prompt_version:N", title="Prompt"),
            alt.Tooltip("char_count:Q", title="Characters"),
            alt.Tooltip("composite:Q", title="Composite", format=".2f"),
        ]
        + [alt.Tooltip(f"{c}:N", title="Scenario") for c in extra],
    )
    fit = (
        base.transform_regression("char_count", "composite")
        .mark_line(color="black", strokeWidth=2)
        .encode(x=x, y=y)
    )
    return alt.layer(dots, fit).properties(
        title=_title(
            "Score against tip length",
            "One dot per judged tip; black line: least-squares fit over all tips",
        ),
        width=WIDTH,
        height=320,
    )


def judge_agreement(agreement: pl.DataFrame, *, rubric: Rubric | None = None) -> AnyChart:
    """Krippendorff's alpha per dimension, against the usual 0.667 and 0.8 thresholds."""
    require_columns(agreement, ["dimension", "alpha", "n_items", "n_judges"], "judge agreement")
    title = "Agreement between judges"
    frame = agreement.filter(pl.col("alpha").is_not_null() & pl.col("alpha").is_finite())
    if frame.height == 0:
        return placeholder(title, "Needs two or more judges scoring the same tips; none did.")
    base = alt.Chart(_values(frame, ["dimension", "alpha", "n_items", "n_judges"]))
    x = alt.X(
        "alpha:Q",
        title="Krippendorff's alpha (ordinal)",
        scale=alt.Scale(domain=[min(-0.2, frame["alpha"].min()), 1]),
    )
    y = alt.Y("dimension:N", title="Dimension", sort=list(_rubric(rubric).dimension_ids))
    bars = base.mark_bar(color=OKABE_ITO[0], height=22).encode(
        x=x,
        y=y,
        tooltip=[
            alt.Tooltip("dimension:N", title="Dimension"),
            alt.Tooltip("alpha:Q", title="Alpha", format=".3f"),
            alt.Tooltip("n_items:Q", title="Tips scored by 2+ judges"),
            alt.Tooltip("n_judges:Q", title="Judges"),
        ],
    )
    thresholds = alt.InlineData(
        values=[
            {"alpha": ALPHA_TENTATIVE, "meaning": "0.667: tentative"},
            {"alpha": ALPHA_RELIABLE, "meaning": "0.8: reliable"},
        ]
    )
    rules = (
        alt.Chart(thresholds)
        .mark_rule(strokeDash=[4, 3], color="#555555")
        .encode(x="alpha:Q", tooltip=alt.Tooltip("meaning:N", title="Threshold"))
    )
    return alt.layer(bars, rules).properties(
        title=_title(title, "Dashed lines: 0.667 (tentative conclusions) and 0.8 (reliable)"),
        width=WIDTH,
        height=alt.Step(30),
    )


POOLED_JUDGES = "all judges (mean)"
"""How the pooled rows of the length-adjusted view are labelled in place of a judge id."""


def length_adjusted(cells: pl.DataFrame) -> AnyChart:
    """Each cell's raw composite and its length-adjusted composite, joined as a dumbbell.

    One row per cell, one dumbbell per judge (and one for the judges pooled, in black), so a
    reader sees at a glance which cells owe their place to long tips: their filled dot (the
    adjusted score) sits left of the open one (the raw score). Fed by
    ``stats.length_adjusted(...).cells``; cells are ordered by the pooled adjusted composite.
    """
    cols = [
        "judge_id",
        "pooled",
        "model",
        "prompt_version",
        "composite_raw",
        "composite_adjusted",
        "adjustment",
    ]
    extra = [c for c in ("mean_chars", "n_tips", "rank_raw", "rank_adjusted") if c in cells.columns]
    require_columns(cells, cols, "length-adjusted composite")
    title = "Composite with the length effect removed"
    frame = cells.filter(pl.col("composite_adjusted").is_not_null())
    if frame.height == 0:
        return placeholder(
            title, "No judge's length slope could be estimated (see the slopes table)."
        )
    frame = _with_label(frame.select(cols + extra)).with_columns(
        pl.when(pl.col("pooled"))
        .then(pl.lit(POOLED_JUDGES))
        .otherwise(pl.col("judge_id"))
        .alias("judge")
    )
    judges = sorted(frame.filter(~pl.col("pooled"))["judge"].unique().to_list())
    domain = [POOLED_JUDGES, *judges] if frame["pooled"].any() else judges
    colours = (["#000000"] if domain[:1] == [POOLED_JUDGES] else []) + [
        c for c in OKABE_ITO if c != "#000000"
    ]
    order_source = frame.filter(pl.col("pooled")) if frame["pooled"].any() else frame
    order = _cell_order(
        order_source.group_by("cell").agg(pl.col("composite_adjusted").mean()),
        "composite_adjusted",
    )
    palette = alt.Scale(domain=domain, range=colours[: len(domain)])
    base = _cell_groups(frame, order, ("judge", "Judge"), domain, palette).encode(
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("judge:N", title="Judge"),
            alt.Tooltip("composite_raw:Q", title="Raw composite", format=".2f"),
            alt.Tooltip("composite_adjusted:Q", title="Length-adjusted", format=".2f"),
            alt.Tooltip("adjustment:Q", title="Adjustment", format="+.2f"),
        ]
        + [alt.Tooltip(f"{c}:Q", title=c.replace("_", " "), format=".0f") for c in extra],
    )
    x_title = "Mean composite: open = raw, filled = at the mean tip length"
    scale = alt.Scale(zero=False)
    bars = base.mark_rule(strokeWidth=2, opacity=0.6).encode(
        x=alt.X("composite_raw:Q", title=x_title, scale=scale), x2="composite_adjusted:Q"
    )
    raw = base.mark_point(filled=False, size=60).encode(x=alt.X("composite_raw:Q", scale=scale))
    adjusted = base.mark_point(filled=True, size=60).encode(
        x=alt.X("composite_adjusted:Q", scale=scale)
    )
    return alt.layer(bars, raw, adjusted).properties(
        title=alt.TitleParams(
            text=title,
            subtitle=[
                "Per judge: a cell's mean composite, raw (open) and with the judge's",
                "verbosity slope removed at the mean tip length (filled).",
                "A filled dot left of the open one: long tips lifted the cell.",
            ],
            anchor="start",
        ),
        width=WIDTH,
        height=alt.Step(max(6, 30 // len(domain))),  # per judge: one row per cell holds all
    )


def llm_calibration(calibration: pl.DataFrame) -> AnyChart:
    """Each LLM judge's alpha against the people per dimension (and the composite), against the
    0.667 floor: the dimensions where it could stand in for people reach the line."""
    require_columns(
        calibration, ["judge_id", "dimension", "alpha", "mean_bias", "n_items"], "calibration"
    )
    title = "LLM judge against people"
    frame = calibration.filter(pl.col("alpha").is_not_null() & pl.col("alpha").is_finite())
    if frame.height == 0:
        return placeholder(title, "Needs an LLM judge and a person scoring the same tips.")
    base = alt.Chart(_values(frame, ["judge_id", "dimension", "alpha", "mean_bias", "n_items"]))
    bars = base.mark_bar(height=14).encode(
        x=alt.X(
            "alpha:Q",
            title="Krippendorff's alpha against the people's mean (interval)",
            scale=alt.Scale(domain=[min(-0.2, frame["alpha"].min()), 1]),
        ),
        y=alt.Y("dimension:N", title="Dimension"),
        yOffset=alt.YOffset("judge_id:N"),
        color=alt.Color("judge_id:N", title="LLM judge", scale=alt.Scale(range=list(OKABE_ITO))),
        tooltip=[
            alt.Tooltip("judge_id:N", title="LLM judge"),
            alt.Tooltip("dimension:N", title="Dimension"),
            alt.Tooltip("alpha:Q", title="Alpha", format=".3f"),
            alt.Tooltip("mean_bias:Q", title="Mean bias (LLM − people)", format="+.2f"),
            alt.Tooltip("n_items:Q", title="Tips"),
        ],
    )
    rule = (
        alt.Chart(alt.InlineData(values=[{"alpha": ALPHA_TENTATIVE}]))
        .mark_rule(strokeDash=[4, 3], color="#555555")
        .encode(x="alpha:Q")
    )
    return alt.layer(bars, rule).properties(
        title=_title(title, "Dashed line: 0.667, the floor for trusting it on a dimension"),
        width=WIDTH,
        height=alt.Step(34),
    )


# ---------------------------------------------------------------- pairwise (architecture §13)

MATRIX_WIDTH = 720
"""The win-rate matrix's plot area at most: with its row labels it stays inside the report's
1280 px page (issue 22's rule for the tables)."""


def win_matrix(matrix: pl.DataFrame, order: Sequence[str] | None = None) -> AnyChart:
    """How often the row cell beat the column cell over their judged tip pairs (ties half).

    Colour is anchored at 0–1 with 0.5 neutral (a diverging scale): a cell that beats another
    55% of the time must not look as far from a coin toss as one that always wins. Each square
    writes its rate; the tooltip adds how many tip pairs it rests on. ``order``: cell labels,
    strongest first (rows top-down, columns left to right); else by mean win rate.
    """
    cols = ["row_model", "row_prompt", "col_model", "col_prompt", "win_rate", "n"]
    require_columns(matrix, cols, "win-rate matrix", "tipbench_lib.stats.pairwise.win_matrix")
    title = "Win rate of the row cell against the column cell"
    if matrix.height == 0:
        return placeholder(title, "No two cells were judged against each other.")
    frame = _with_label(
        _with_label(matrix.select(cols), "col_model", "col_prompt").rename({"cell": "column"}),
        "row_model",
        "row_prompt",
    ).with_columns(
        pl.format("{}%", (100 * pl.col("win_rate")).round(0).cast(pl.Int64)).alias("label")
    )
    if order is None:
        order = _cell_order(frame.group_by("cell").agg(pl.col("win_rate").mean()), "win_rate")
    order = list(order)
    step = max(14, min(46, MATRIX_WIDTH // max(len(order), 1)))
    tooltip = [
        alt.Tooltip("cell:N", title="Row cell"),
        alt.Tooltip("column:N", title="Against"),
        alt.Tooltip("win_rate:Q", title="Win rate (ties half)", format=".0%"),
        alt.Tooltip("n:Q", title="Tip pairs judged (n)"),
    ]
    base = alt.Chart(_values(frame, frame.columns)).encode(
        x=alt.X(
            "column:N",
            title="Against (column cell)",
            sort=order,
            axis=alt.Axis(labelAngle=-40, labelLimit=180),
        ),
        y=alt.Y("cell:N", title="Row cell", sort=order, axis=alt.Axis(labelLimit=220)),
        tooltip=tooltip,
    )
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "win_rate:Q",
            title="Win rate",
            scale=alt.Scale(scheme="blueorange", domain=[0, 1], domainMid=0.5),
            legend=alt.Legend(format=".0%", values=[0, 0.25, 0.5, 0.75, 1]),
        )
    )
    layers: list[alt.Chart] = [rect]
    if step >= 26:  # room to write the rate in the square ("100%" needs 30 px at 11 px)
        layers.append(
            base.mark_text(fontSize=11 if step >= 36 else 9).encode(
                text=alt.Text("label:N"),
                color=alt.condition(
                    (alt.datum.win_rate < 0.2) | (alt.datum.win_rate > 0.8),
                    alt.value("white"),
                    alt.value("black"),
                ),
            )
        )
    return alt.layer(*layers).properties(
        title=_title(
            title,
            "Over every judged tip pair of the two cells, a tie counting half; "
            "orange: the row cell wins more, blue: less, white: even",
        ),
        width=alt.Step(step),
        height=alt.Step(step),
    )


def pairwise_against_baseline(
    leaderboard: pl.DataFrame,
    against: pl.DataFrame,
    baseline: tuple[str, str],
    level: float = 0.95,
) -> AnyChart:
    """Each cell's mean win share against the baseline with its interval, coloured by verdict.

    The axis spans the whole 0–1 range of a share, with a dashed line at 0.5 (no difference):
    the pairwise counterpart of :func:`baseline_differences`.
    """
    cols = [
        "model",
        "prompt_version",
        "win_rate_vs_baseline",
        "vs_baseline_lo",
        "vs_baseline_hi",
    ]
    require_columns(leaderboard, [*cols, "n_scenarios"], "win share against the baseline")
    require_columns(against, [*PAIR_COLUMNS, "verdict", "n_scenarios"], "pairwise comparisons")
    title = f"Win share against the baseline {cell_label(*baseline)}"
    frame = leaderboard.filter(pl.col("win_rate_vs_baseline").is_not_null())
    if frame.height == 0:
        return placeholder(title, f"No cell was judged against {cell_label(*baseline)}.")
    verdicts = _against_verdicts(against, baseline)
    frame = _with_label(frame.select(cols)).join(verdicts, on="cell", how="left")
    order = _cell_order(frame, "win_rate_vs_baseline")
    base = alt.Chart(_values(frame, frame.columns)).encode(
        y=alt.Y("cell:N", title="Model · prompt", sort=order),
        color=alt.Color("verdict:N", title="Verdict", scale=_verdict_scale()),
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("win_rate_vs_baseline:Q", title="Mean win share", format=".0%"),
            alt.Tooltip("vs_baseline_lo:Q", title=f"{_pct(level)} CI low", format=".0%"),
            alt.Tooltip("vs_baseline_hi:Q", title=f"{_pct(level)} CI high", format=".0%"),
            alt.Tooltip("n_scenarios:Q", title="Scenarios"),
            alt.Tooltip("verdict:N", title="Verdict"),
        ],
    )
    scale = alt.Scale(domain=[0, 1])
    axis = alt.Axis(format=".0%", values=[0, 0.25, 0.5, 0.75, 1])
    even = (
        alt.Chart(alt.InlineData(values=[{"even": 0.5}]))
        .mark_rule(color="#555555", strokeDash=[4, 3])
        .encode(x=alt.X("even:Q", scale=scale))
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "vs_baseline_lo:Q",
            title="Share of pairs the cell won against the baseline (ties half)",
            scale=scale,
            axis=axis,
        ),
        x2="vs_baseline_hi:Q",
    )
    dots = base.mark_point(filled=True, size=70).encode(
        x=alt.X("win_rate_vs_baseline:Q", scale=scale)
    )
    return alt.layer(even, bars, dots).properties(
        title=_title(
            title,
            f"Mean over scenarios with its {_pct(level)} interval; dashed: 50%, no difference",
        ),
        width=WIDTH,
        height=alt.Step(ROW_STEP),
    )


def _against_verdicts(against: pl.DataFrame, baseline: tuple[str, str]) -> pl.DataFrame:
    """cell → the verdict of that cell against the baseline (turned round where B is the cell)."""
    model, prompt = baseline
    is_b = (pl.col("b_model") == model) & (pl.col("b_prompt") == prompt)
    flip = {"better": "worse", "worse": "better"}
    as_a = against.filter(is_b).select(
        pl.concat_str([pl.col("a_model"), pl.lit(CELL_SEP), pl.col("a_prompt")]).alias("cell"),
        "verdict",
    )
    as_b = against.filter(~is_b).select(
        pl.concat_str([pl.col("b_model"), pl.lit(CELL_SEP), pl.col("b_prompt")]).alias("cell"),
        pl.col("verdict").replace(flip),
    )
    return pl.concat([as_a, as_b])
