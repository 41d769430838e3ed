"""The offline HTML report: one :class:`~tipbench_lib.compare.analysis.Analysis`, rendered.

Nothing is computed here that a reader could take for a finding: the numbers and every sentence
come from the analysis, which the compare notebook shows too; this module lays them out as
tables, chart blocks and sections. The page skeleton and its CSS are package files
(``templates/report.html``, ``templates/report.css``, ``templates/embed.js``), filled with
:class:`string.Template`.

``report.html`` is one file that renders with the network cut: the Vega, Vega-Lite and Vega-Embed
JavaScript comes inlined from ``vl-convert-python`` (which ships the bundle offline), once, and each
chart's spec sits in a ``<script type="application/json">`` block. Everything that came from a model
or a file (tips, model names, scenario ids, provenance) is HTML-escaped in the page, and inside the
JSON blocks every ``<``, ``>`` and ``&`` is written as a ``\\u00XX`` escape, so a tip containing
``</script><script>…`` can neither close the block nor open a tag.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import altair as alt
import polars as pl
import vl_convert

from tipbench_lib.compare import charts
from tipbench_lib.compare.analysis import LENGTH_METHOD, QUESTIONS, Analysis
from tipbench_lib.compare.explorer_html import explorer_html
from tipbench_lib.compare.pairwise_view import AGREEMENT_NOTE, BIAS_NOTE, METHOD, PairwiseView
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.escaping import html_text as esc
from tipbench_lib.stats.calibration import CALIBRATION_SCHEMA
from tipbench_lib.stats.sentences import percent as level_text

MAX_TABLE_ROWS = 300
"""Comparison rows shown in the page; the CSV always has all of them."""
CANVAS_ABOVE_ROWS = 3000
"""Charts with more data rows than this draw on canvas: thousands of SVG nodes make a page crawl."""
TEMPLATES = "templates"


@cache
def template(name: str) -> str:
    """A file of the page's skeleton, shipped as package data next to this module."""
    return resources.files(__package__).joinpath(TEMPLATES, name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- formatting


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script> element (the approach of Django's json_script)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def pval(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return "&lt; 0.001" if value < 0.001 else f"{value:.3f}"


def interval(mean: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    return f"{num(mean, digits)} <span class='ci'>[{num(lo, digits)}, {num(hi, digits)}]</span>"


def percent(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def signed(value: Any) -> str:
    return "–" if value is None else f"{value:+.2f}"


CALIBRATION0 = pl.DataFrame(schema=CALIBRATION_SCHEMA)
"""No calibration rows: the chart says what it needs."""

Column = tuple[str, Callable[[dict[str, Any]], str], str]
"""(header, row → already-escaped cell HTML, css class)."""


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column], *, caption: str = "") -> str:
    head = "".join(f"<th class='{cls}'>{esc(h)}</th>" for h, _, cls in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td class='{cls}'>{cell(r)}</td>" for _, cell, cls in columns) + "</tr>"
        for r in rows
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f"<div class='table-wrap'><table>{cap}<thead><tr>{head}</tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def field(name: str, fmt: Callable[[Any], str] = esc) -> Callable[[dict[str, Any]], str]:
    return lambda row: fmt(row.get(name))


def interval_column(header: str, mean: str, lo: str, hi: str) -> Column:
    """A column showing ``mean [lo, hi]`` from three fields of the row."""
    return (header, lambda r: interval(r[mean], r[lo], r[hi]), "num")


def cell_of(model: str, prompt: str) -> Callable[[dict[str, Any]], str]:
    """A column naming a cell from two fields of the row, as everywhere (``model · prompt``)."""
    return lambda row: esc(cell_label(row[model], row[prompt]))


def note(text: str) -> str:
    return f"<p class='note'>{esc(text)}</p>" if text else ""


def question(view: str) -> str:
    """The one question a view answers (:data:`~tipbench_lib.compare.analysis.QUESTIONS`)."""
    return f"<p class='question'><em>{esc(QUESTIONS[view])}</em></p>"


def bullets(lines: Sequence[str], css: str) -> str:
    items = "\n".join(f"<li>{esc(line)}</li>" for line in lines)
    return f"<ul class='{css}'>{items}</ul>"


# ---------------------------------------------------------------- charts


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script, matching altair's Vega-Lite version.

    Cached: building it takes about a second and it never changes within a process.
    """
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    version = wanted if wanted in vl_convert.get_vegalite_versions() else None
    bundle = vl_convert.javascript_bundle(vl_version=version)
    if "</script" in bundle.lower():
        raise TipbenchError(
            "the Vega bundle from vl-convert-python contains '</script' and cannot be inlined; "
            "install another vl-convert-python version"
        )
    return bundle


@dataclass
class ChartBlock:
    """One chart of the page: where it goes, what it is called, and its spec."""

    anchor: str
    title: str
    chart: alt.TopLevelMixin

    def html(self) -> str:
        spec = self.chart.to_dict()
        rows = sum(len(d) for d in spec.get("datasets", {}).values())
        renderer = "canvas" if rows > CANVAS_ABOVE_ROWS else "svg"
        return (
            f"<figure class='chart-block' id='{self.anchor}'>"
            f"<div class='chart' data-spec='spec-{self.anchor}' data-renderer='{renderer}'"
            f" role='img' aria-label='{esc(self.title)}'></div>"
            f"<script type='application/json' id='spec-{self.anchor}'>{script_json(spec)}</script>"
            "</figure>"
        )


def chart_blocks(analysis: Analysis) -> dict[str, ChartBlock]:
    """Every chart of the analysis, keyed by name; the notebook shows the same charts (the
    rubric's only when a tip was scored on it)."""
    made = rubric_charts(analysis) if analysis.rubric_judged else {}
    made |= pairwise_charts(analysis)
    return {
        key: ChartBlock(f"chart-{key.replace('_', '-')}", title, draw())
        for key, (title, draw) in made.items()
    }


def rubric_charts(analysis: Analysis) -> dict[str, tuple[str, Callable[[], Any]]]:
    """The charts of the rubric's scores."""
    a, level, rubric = analysis, analysis.options.level, analysis.rubric
    return {
        "heatmap": ("Heatmap", lambda: charts.heatmap(a.leaderboard, level, rubric=rubric)),
        "forest": ("Cell means", lambda: charts.forest_plot(a.leaderboard, level, rubric=rubric)),
        "baseline": (
            "Differences from the baseline",
            lambda: charts.baseline_differences(a.comparisons, a.baseline.cell, level),
        ),
        "scenarios": ("Per-scenario scores", lambda: charts.scenario_dots(a.scenario_means)),
        "dimensions": (
            "Rubric dimensions",
            lambda: charts.dimension_breakdown(a.leaderboard, level, rubric=rubric),
        ),
        "latency": (
            "Quality against latency",
            lambda: charts.quality_latency(a.leaderboard, a.speed, a.front, level),
        ),
        "length": ("Score against length", lambda: charts.score_length(a.scores)),
        "length_adjusted": (
            "Length-adjusted composite",
            lambda: charts.length_adjusted(length_chart_rows(a)),
        ),
        "agreement": (
            "Judge agreement",
            lambda: charts.judge_agreement(a.agreement, rubric=rubric),
        ),
        "calibration": (
            "LLM judge against people",
            lambda: charts.llm_calibration(a.calibration.llm if a.calibration else CALIBRATION0),
        ),
    }


def pairwise_charts(analysis: Analysis) -> dict[str, tuple[str, Callable[[], Any]]]:
    """The pairwise charts, only when the experiment has pairs (no empty section otherwise)."""
    pw = analysis.pairwise
    if pw is None:
        return {}
    order = [cell_label(m, p) for m, p in pw.leaderboard.select("model", "prompt_version").rows()]
    return {
        "pairwise_baseline": (
            "Pairwise win share against the baseline",
            lambda: charts.pairwise_against_baseline(
                pw.leaderboard, pw.against_baseline, pw.baseline, pw.level
            ),
        ),
        "pairwise_matrix": ("Win-rate matrix", lambda: charts.win_matrix(pw.matrix, order)),
    }


def length_chart_rows(analysis: Analysis) -> pl.DataFrame:
    """The length-adjusted rows to draw: with one judge its pooled rows repeat it, so they go."""
    cells = analysis.length_adjusted.cells
    judged = cells.filter(~pl.col("pooled"))
    return judged if judged["judge_id"].n_unique() == 1 else cells


# ---------------------------------------------------------------- sections


def summary_html(analysis: Analysis) -> str:
    """The header: the headline (a winner only when it beats every cell), then its evidence."""
    lines = [f"<p class='headline'>{esc(analysis.headline)}</p>"]
    lines += [f"<p class='sub'>{esc(line)}</p>" for line in analysis.evidence]
    lines += [
        f"<p class='sub muted'>{esc(line)}</p>"
        for line in (analysis.view_note, analysis.family_note, *analysis.rubric_note_lines)
        if line
    ]
    lines += [f"<p class='sub pairwise'>{esc(line)}</p>" for line in analysis.pairwise_lines]
    lines.append(judge_warning(analysis))
    if analysis.warnings:
        said = "".join(f"<p>{esc(w)}</p>" for w in analysis.warnings)
        lines.append(
            f"<div class='warnings' role='note'><p><strong>Loading found:</strong></p>{said}</div>"
        )
    return "\n".join(lines)


def judge_warning(analysis: Analysis) -> str:
    """The mixed-judges warning, where the ranking is shown ('' when the cells share judges)."""
    if not analysis.judge_note:
        return ""
    return (
        "<div class='warnings judge-mix' role='note'><p><strong>Judges differ between "
        f"cells:</strong> {esc(analysis.judge_note)}</p></div>"
    )


def leaderboard_html(analysis: Analysis) -> str:
    level = level_text(analysis.options.level)
    columns: list[Column] = [
        ("Rank", field("rank", num), "num"),
        ("Cell", cell_of("model", "prompt_version"), "cell"),
        interval_column(
            f"Composite [{level} CI]", "composite_mean", "composite_lo", "composite_hi"
        ),
    ]
    if analysis.judge_note:
        columns.append(("Judge-adjusted", field("composite_judge_adjusted", num), "num"))
    # beside the mean they qualify (the table scrolls sideways on a narrow page)
    columns.append(("Judges", field("judges"), "judges"))
    if analysis.judge_note:
        columns.append(("Judge note", field("judge_note"), "judge-note"))
    rubric = analysis.rubric
    for d in rubric.dimension_ids:
        columns.append(
            (
                rubric.dimension(d).name,
                lambda r, d=d: interval(r[f"{d}_mean"], r[f"{d}_lo"], r[f"{d}_hi"]),
                "num",
            )
        )
    board = analysis.leaderboard
    # The rest in a second table, so neither hides columns behind sideways scrolling at 1280 px.
    more: list[Column] = [("Cell", cell_of("model", "prompt_version"), "cell")]
    more += [
        (flag.name, field(f"{flag.id}_mean", percent), "num")
        for flag in rubric.flags
        if f"{flag.id}_mean" in board.columns
    ]
    more += [
        ("Distinct-2", field("distinct_2", num), "num"),
        ("Near repeats", field("near_repeat_share", percent), "num"),
        ("Scenarios", field("n_scenarios", num), "num"),
        ("Tips", field("n_candidates", num), "num"),
        ("Interval note", field("interval_note"), ""),
    ]
    legend = note(
        "Distinct-2: unique word pairs over all word pairs of a scenario's tips, averaged over "
        "scenarios (1 = the tips share no word pair, 1/K = one tip repeated K times); near "
        "repeats: tips whose word pairs overlap an earlier tip of their scenario by 80% or more. "
        "Both count every tip, judged or not. Judges: who scored the cell, with their number of "
        "scores and their weight in the cell's mean."
        + (
            " Judge-adjusted: the composite of an additive model (cell + scenario + judge) "
            "fitted on scenario means, as if each judge had scored the cell; – when the judges "
            "are not linked by cells they both scored."
            if analysis.judge_note
            else ""
        )
    )
    return (
        note(analysis.scale_note)
        + judge_warning(analysis)
        + table(board.iter_rows(named=True), columns)
        + "<h3>Flags, diversity and counts</h3>"
        + table(board.iter_rows(named=True), more)
        + legend
    )


def verdict_badge(row: Mapping[str, Any]) -> str:
    if not row.get("verdict"):
        return "–"
    badge = f"<span class='verdict {esc(row['verdict'])}'>{esc(row['verdict'])}</span>"
    return badge + (
        " <span class='provisional'>provisional</span>" if row.get("provisional") else ""
    )


def judges_and_note(row: Mapping[str, Any]) -> str:
    """The judges a comparison rests on and its interval note, in one wrapping column."""
    parts = [esc(row.get("judges") or "")]
    if row.get("interval_note"):
        parts.append(f"<span class='ci'>{esc(row['interval_note'])}</span>")
    return "<br>".join(p for p in parts if p)


def comparisons_html(analysis: Analysis) -> str:
    level = level_text(analysis.options.level)
    columns: list[Column] = [
        ("A", cell_of("a_model", "a_prompt"), "cell"),
        ("B", cell_of("b_model", "b_prompt"), "cell"),
        (
            f"A − B [{level} CI] over n scenarios",
            lambda r: (
                interval(r["diff_mean"], r["diff_lo"], r["diff_hi"])
                + f"<span class='ci'>n = {num(r.get('n_scenarios'))}</span>"
            ),
            "num",
        ),
        ("Verdict", verdict_badge, ""),
        (
            "Holm p (family)",
            lambda r: (
                f"{pval(r.get('p_holm'))}<span class='ci'>"
                f"{esc(r.get('family'))} ({esc(r.get('family_size'))})</span>"
            ),
            "num",
        ),
        (
            "Unadjusted p: signed-rank, sign-flip",
            lambda r: (
                f"{pval(r.get('p_wilcoxon'))}<span class='ci'>{pval(r.get('p_permutation'))}</span>"
            ),
            "num",
        ),
        (
            "Detectable diff. (scenarios needed)",
            lambda r: (
                f"{num(r.get('mdd'))}<span class='ci'>{num(r.get('scenarios_needed'))}</span>"
            ),
            "num",
        ),
        ("Judges · note", judges_and_note, "wrap"),
    ]
    rows = analysis.comparison_rows
    shown = rows.head(MAX_TABLE_ROWS)
    more = (
        note(f"Showing {shown.height} of {rows.height} comparisons; comparisons.csv has them all.")
        if rows.height > shown.height
        else ""
    )
    legend = note(
        "Primary family first, clearest verdicts first. Verdicts use the Holm-adjusted "
        "signed-rank p within each family; the sign-flip p of the mean difference is an "
        "unadjusted check and decides nothing. Detectable diff.: the difference found 80% of the "
        "time at the family's first Holm threshold; scenarios needed: to find the observed "
        "difference that often."
    )
    return legend + table(shown.iter_rows(named=True), columns) + more


def verdicts_html(analysis: Analysis) -> str:
    base = analysis.baseline
    intro = note(
        f"{analysis.baseline_intro} Differences are paired on shared scenarios and on the judges "
        "who scored both cells, with tips averaged per scenario first."
    )
    if not analysis.verdicts:
        return intro + f"<p>No comparison involves {esc(base.label)}. No comparisons.</p>"
    return intro + bullets(analysis.verdict_lines, "sentences")


def examples_html(analysis: Analysis) -> str:
    tips = analysis.examples
    by_cell = {(r["model"], r["prompt_version"], r["which"]): r for r in tips.iter_rows(named=True)}
    rows = [
        {
            "model": m,
            "prompt_version": p,
            "top": by_cell.get((m, p, "top")),
            "bottom": by_cell.get((m, p, "bottom")),
        }
        for m, p in analysis.leaderboard.select("model", "prompt_version").iter_rows()
    ]
    columns: list[Column] = [
        ("Cell", cell_of("model", "prompt_version"), "cell"),
        ("Highest-scored tip", lambda r: tip_html(r["top"]), "tipcol"),
        ("Lowest-scored tip", lambda r: tip_html(r["bottom"]), "tipcol"),
    ]
    return note(
        "The highest- and lowest-scored tip of each cell, exactly as the model wrote it."
    ) + table(rows, columns)


def tip_html(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "–"
    return (
        f"<div class='tip'><span class='score'>{num(row['composite'], 1)}</span>"
        f"<span class='scenario'>{esc(row['scenario_id'])}</span>"
        f"<pre class='tip-text'>{esc(row['text'])}</pre></div>"
    )


def judge_list_html(analysis: Analysis) -> str:
    """Who judged: every judge with its kind, its scores and its pairwise judgments (each with
    the failed ones: an LLM judge's calls that gave no answer), and when."""
    columns: list[Column] = [
        ("Judge", field("judge_id"), ""),
        ("Kind", field("description"), ""),
        ("Scores", field("n_judgments", num), "num"),
        ("Failed", field("n_failed", num), "num"),
    ]
    if analysis.judges["n_pairs"].fill_null(0).sum() or analysis.pairwise is not None:
        columns += [
            ("Pair judgments", field("n_pairs", num), "num"),
            ("Failed pairs", field("n_pairs_failed", num), "num"),
        ]
    columns.append(("When", field("dates"), ""))
    return table(analysis.judges.iter_rows(named=True), columns) + note(analysis.view_note)


def judges_html(analysis: Analysis) -> str:
    parts = [judge_list_html(analysis)]
    if analysis.panel.height:
        parts.append("<h3>Agreement on the composite, and provisional judges</h3>")
        parts.append(
            table(
                analysis.panel.iter_rows(named=True),
                [
                    ("Judge", field("judge_id"), ""),
                    ("Kind", field("kind"), ""),
                    ("Judgments", field("n_judgments", num), "num"),
                    ("Checked against", field("reference"), ""),
                    (
                        "Krippendorff α within scenarios (composite)",
                        field("alpha", lambda v: num(v, 3)),
                        "num",
                    ),
                    ("Provisional because", field("reason"), ""),
                ],
            )
        )
    if analysis.agreement.height:
        parts.append(
            table(
                analysis.agreement.iter_rows(named=True),
                [
                    ("Dimension", field("dimension"), ""),
                    ("Krippendorff α", field("alpha", lambda v: num(v, 3)), "num"),
                    ("Tips scored by 2+ judges", field("n_items", num), "num"),
                    ("Judges", field("n_judges", num), "num"),
                ],
            )
        )
    return "\n".join(parts)


def spread_html(analysis: Analysis) -> str:
    """Each judge's scores per dimension, counted; near-constant ones flagged and said."""
    from tipbench_lib.compare.judge_spread import NEAR_CONSTANT, spread_sentences

    spread = analysis.judge_spread
    if spread.height == 0:
        return ""
    scores = [c for c in spread.columns if c.startswith("score_")]
    columns: list[Column] = [
        ("Judge", field("judge_id"), "cell"),
        ("Dimension", field("dimension"), "cell"),
        *[(c.removeprefix("score_"), field(c, num), "num") for c in scores],
        (
            "Most frequent",
            lambda r: f"{r['mode']} ({r['score_' + str(r['mode'])]} of {r['n']})",
            "num",
        ),
        ("Cells with one score only", lambda r: f"{r['constant_cells']} of {r['n_cells']}", "num"),
        (
            "",
            lambda r: (
                "<span class='verdict confounded'>near-constant</span>"
                if r["near_constant"]
                else ""
            ),
            "",
        ),
    ]
    said = spread_sentences(spread)
    return (
        "<h3>Each judge's scores, per dimension</h3>"
        + note(
            "How many tips each judge gave each score. Near-constant: one score takes "
            f"{percent(NEAR_CONSTANT)} or more of a judge's scores on a dimension, so that "
            "dimension of that judge barely separates cells, whatever its size or agreement."
        )
        + (bullets(said, "sentences") if said else "")
        + table(spread.iter_rows(named=True), columns)
    )


def ppi_html(analysis: Analysis) -> str:
    """PPI beside people alone per primary comparison, or why there is none."""
    if analysis.ppi is None:
        return note(analysis.ppi_note)
    rows = analysis.ppi.rows.iter_rows(named=True)
    return note(analysis.ppi_note) + table(
        rows,
        [
            ("Cell", cell_of("a_model", "a_prompt"), "cell"),
            ("against", cell_of("b_model", "b_prompt"), "cell"),
            *side_columns("People alone", "people"),
            *side_columns("With the LLM judge (PPI)", "ppi"),
            ("Human scenarios", field("n_human_scenarios", num), "num"),
            ("Worth human cards", field("effective_human_cards", lambda v: num(v, 0)), "num"),
            ("λ", field("lambda", num), "num"),
        ],
    )


def side_columns(header: str, side: str) -> list[Column]:
    """One side of a PPI row (``stats.ppi.ppi_compare``): its interval, Holm p and verdict."""
    return [
        interval_column(header, f"diff_{side}", f"lo_{side}", f"hi_{side}"),
        ("Holm p", field(f"p_holm_{side}", pval), "num"),
        ("Verdict", field(f"verdict_{side}"), ""),
    ]


def calibration_html(analysis: Analysis) -> str:
    """Where the LLM judge can be trusted: per dimension against people, and length slopes."""
    found = analysis.calibration
    if found is None:
        return ""
    parts = [question("calibration"), note(found.note)]
    if found.llm.height:
        parts.append(
            table(
                found.llm.iter_rows(named=True),
                [
                    ("LLM judge", field("judge_id"), ""),
                    ("Dimension", field("dimension"), ""),
                    ("Tips", field("n_items", num), "num"),
                    ("α against people", field("alpha", lambda v: num(v, 3)), "num"),
                    ("Mean bias (LLM − people)", field("mean_bias", signed), "num"),
                    ("Spearman", field("spearman", num), "num"),
                ],
            )
        )
    if found.slopes.height:
        parts.append("<h3>Verbosity slope of every judge</h3>")
        parts.append(question("slopes"))
        parts.append(
            table(
                found.slopes.iter_rows(named=True),
                [
                    ("Judge", field("judge_id"), ""),
                    ("Kind", field("kind"), ""),
                    interval_column("Points per SD of log length", "gamma", "gamma_lo", "gamma_hi"),
                    ("Tips", field("n_tips", num), "num"),
                    ("Note", field("note"), ""),
                ],
            )
        )
    return "\n".join(parts)


def speed_html(analysis: Analysis) -> str:
    columns: list[Column] = [
        ("Model", field("model"), ""),
        ("Tips", field("n", num), "num"),
        ("Tokens/s (median)", field("tokens_per_s_median", lambda v: num(v, 1)), "num"),
        ("Latency median (s)", field("latency_s_median", num), "num"),
        ("Latency p95 (s)", field("latency_s_p95", num), "num"),
        ("Load (s)", field("load_s", num), "num"),
    ]
    said = note(analysis.front_note) if analysis.front_note else ""
    return said + table(analysis.speed.iter_rows(named=True), columns)


def length_html(analysis: Analysis) -> str:
    """Score against length per cell, then the length-adjusted view with each verbosity slope."""
    per_cell = table(
        analysis.length.iter_rows(named=True),
        [
            ("Model", field("model"), ""),
            ("Prompt", field("prompt_version"), ""),
            ("Spearman (score, length)", field("spearman", num), "num"),
            ("Points per 100 chars", field("slope", num), "num"),
        ],
    )
    fit = analysis.length_adjusted
    pooled = fit.cells.filter(pl.col("pooled"))
    adjusted = table(
        pooled.iter_rows(named=True),
        [
            ("Cell", cell_of("model", "prompt_version"), "cell"),
            ("Mean chars", field("mean_chars", lambda v: num(v, 0)), "num"),
            ("Raw composite", field("composite_raw", num), "num"),
            ("Length-adjusted", field("composite_adjusted", num), "num"),
            ("Adjustment", field("adjustment", signed), "num"),
            (
                "Rank raw → adjusted",
                lambda r: f"{num(r['rank_raw'])} → {num(r['rank_adjusted'])}",
                "num",
            ),
        ],
    )
    return "\n".join(
        [
            per_cell,
            "<h3>Length-adjusted composite (a sensitivity view)</h3>",
            question("length_adjusted"),
            note(LENGTH_METHOD),
            bullets(analysis.slopes, "slopes"),
            f"<p>{esc(analysis.length_note)}</p>",
            adjusted,
        ]
    )


def pairwise_html(analysis: Analysis, blocks: Mapping[str, str]) -> str:
    """The pairwise section (``docs/architecture.md`` section 13): leaderboard, verdicts against
    the baseline, the win-rate matrix, every cell pair, each judge's position bias, and the two
    rankings' agreement when the experiment was scored on the rubric too."""
    pw = analysis.pairwise
    if pw is None:
        return ""
    level = level_text(pw.level)
    board: list[Column] = [
        ("Rank", field("rank", num), "num"),
        ("Cell", cell_of("model", "prompt_version"), "cell"),
        (
            f"Strength [{level} CI]",
            lambda r: (
                f"{signed(r['strength'])} <span class='ci'>[{signed(r['strength_lo'])}, "
                f"{signed(r['strength_hi'])}]</span>"
            ),
            "num",
        ),
        ("Win rate", field("win_rate", percent), "num"),
        (
            f"Against {pw.baseline_label} [{level} CI]",
            lambda r: share_interval(
                r["win_rate_vs_baseline"], r["vs_baseline_lo"], r["vs_baseline_hi"]
            ),
            "num",
        ),
        ("Pair judgments", field("n_pairs", num), "num"),
        ("Scenarios", field("n_scenarios", num), "num"),
        ("Judges", lambda r: judges_cell(r), "judges"),
    ]
    parts = [
        note(pw.judges.note),
        f"<p>{esc(pw.headline)}</p>",
        note(f"{METHOD} {pw.family_note}"),
        table(pw.leaderboard.iter_rows(named=True), board),
        note(
            "Win rate: the share of all its judged tip pairs the cell won, a tie counting half. "
            f"Against {pw.baseline_label}: the mean over scenarios of the share it won against "
            "that cell, with its interval; – for the baseline itself."
        ),
        f"<h3>Verdicts against {esc(pw.baseline_label)}</h3>",
        note(pw.baseline_intro),
        bullets(pw.verdict_lines, "sentences") if pw.verdict_lines else "",
        blocks.get("pairwise_baseline", ""),
        blocks.get("pairwise_matrix", ""),
        "<h3>Every cell pair</h3>",
        pairwise_comparisons_html(pw),
        "<h3>Pair judges: agreement and position bias</h3>",
        note(f"{AGREEMENT_NOTE} {BIAS_NOTE}"),
        bullets(pw.bias_lines, "sentences"),
        table(
            pw.judge_rows.iter_rows(named=True),
            [
                ("Judge", field("judge_id"), "cell"),
                ("Kind", field("judge_kind"), ""),
                ("Pair judgments", field("n_judgments", num), "num"),
                ("Checked against", field("reference"), "wrap"),
                (
                    "α on the same tip pairs",
                    lambda r: (
                        f"{num(r['alpha'], 3)}<span class='ci'>"
                        f"{num(r['n_alpha_tips'])} tip pairs</span>"
                        if r["n_alpha_tips"]
                        else "–"
                    ),
                    "num",
                ),
                ("Provisional because", field("reason"), "wrap"),
                (
                    "Left · right won · ties",
                    lambda r: f"{num(r['n_left'])} · {num(r['n_right'])} · {num(r['n_ties'])}",
                    "num",
                ),
                (
                    f"Left share [{level} CI]",
                    lambda r: share_interval(
                        r["share_left"], r["share_left_lo"], r["share_left_hi"]
                    ),
                    "num",
                ),
                (
                    "Same side in both orders",
                    lambda r: (
                        f"{num(r['n_same_side'])} of {num(r['n_both_orders'])}"
                        if r.get("n_both_orders")
                        else "—"
                    ),
                    "num",
                ),
            ],
        ),
    ]
    if pw.agreement is not None:
        parts += ["<h3>The rubric and the pairs</h3>", f"<p>{esc(pw.agreement_line)}</p>"]
        if pw.disagreements.height:
            parts.append(disagreements_html(pw))
    return "\n".join(p for p in parts if p)


def share_interval(mean: Any, lo: Any, hi: Any) -> str:
    """A share with its interval, as percentages (``62% [48%, 75%]``)."""
    if mean is None:
        return "–"
    return f"{percent(mean)} <span class='ci'>[{percent(lo)}, {percent(hi)}]</span>"


def judges_cell(row: Mapping[str, Any]) -> str:
    """A cell's pair judges, and the provisional mark when one of them is weak."""
    mark = " <span class='provisional'>provisional</span>" if row.get("provisional") else ""
    return esc(row.get("judges") or "") + mark


def pairwise_comparisons_html(pw: PairwiseView) -> str:
    level = level_text(pw.level)
    columns: list[Column] = [
        ("A", cell_of("a_model", "a_prompt"), "cell"),
        ("B", cell_of("b_model", "b_prompt"), "cell"),
        (
            f"A's win share [{level} CI] over n scenarios",
            lambda r: (
                share_interval(r["share_mean"], r["share_lo"], r["share_hi"])
                + f"<span class='ci'>n = {num(r.get('n_scenarios'))}</span>"
            ),
            "num",
        ),
        (
            "A won · B won · ties",
            lambda r: f"{num(r['wins_a'])} · {num(r['wins_b'])} · {num(r['ties'])}",
            "num",
        ),
        ("Verdict", verdict_badge, ""),
        (
            "Holm p (family)",
            lambda r: (
                f"{pval(r.get('p_holm'))}<span class='ci'>"
                f"{esc(r.get('family'))} ({esc(r.get('family_size'))})</span>"
            ),
            "num",
        ),
        ("Judges", field("judges"), "wrap"),
    ]
    rows = pw.comparison_rows
    shown = rows.head(MAX_TABLE_ROWS)
    more = (
        note(f"Showing {shown.height} of {rows.height} cell pairs; pairwise.csv has them all.")
        if rows.height > shown.height
        else ""
    )
    return table(shown.iter_rows(named=True), columns) + more


def disagreements_html(pw: PairwiseView) -> str:
    """The cell pairs the rubric and the pairs order differently, with each mode's verdict."""
    columns: list[Column] = [
        ("Rubric ranks higher", cell_of("a_model", "a_prompt"), "cell"),
        ("Pairs rank higher", cell_of("b_model", "b_prompt"), "cell"),
        (
            "Composite",
            lambda r: f"{num(r['composite_a'])} · {num(r['composite_b'])}",
            "num",
        ),
        ("Strength", lambda r: f"{signed(r['strength_a'])} · {signed(r['strength_b'])}", "num"),
        ("Rubric verdict", lambda r: verdict_badge({"verdict": r["rubric_verdict"]}), ""),
        ("Pairwise verdict", lambda r: verdict_badge({"verdict": r["pairwise_verdict"]}), ""),
    ]
    return note(
        "Each row: the first cell has the higher mean composite, the second the higher strength; "
        "the verdicts are the first cell's against the second, in each mode. Indistinguishable "
        "in both: the two orders differ by chance."
    ) + table(pw.disagreements.iter_rows(named=True), columns)


def provenance_html(analysis: Analysis) -> str:
    """Every provenance entry: the models and prompts as tables, the rest as a list."""
    items = "".join(
        f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in analysis.provenance_entries
    )
    parts = [f"<dl class='prov'>{items}</dl>"]
    if analysis.models:
        keys = [k for k in analysis.models[0] if k != "model"]
        parts.append("<h3>Models</h3>")
        parts.append(
            table(
                analysis.models,
                [("Model", field("model"), "")]
                + [(k.replace("_", " "), field(k), "mono") for k in keys],
            )
        )
    if analysis.prompts:
        parts.append("<h3>Prompts</h3>")
        parts.append(
            table(
                analysis.prompts,
                [("Version", field("version"), ""), ("Content hash", field("hash"), "mono")],
            )
        )
    return "\n".join(parts)


# ---------------------------------------------------------------- the page


def section(anchor: str, title: str, *body: str) -> str:
    heading = f"<h2><a href='#{anchor}'>{esc(title)}</a></h2>"
    return f"<section id='{anchor}'>{heading}{''.join(body)}</section>"


def sections(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(anchor, navigation label, section HTML), in page order."""
    blocks = {key: block.html() for key, block in chart_blocks(analysis).items()}
    laid_out = rubric_parts if analysis.rubric_judged else pairs_only_parts
    parts = laid_out(analysis, blocks)
    return [(anchor, nav, section(anchor, title, *body)) for anchor, nav, title, *body in parts]


def pairs_only_parts(analysis: Analysis, blocks: Mapping[str, str]) -> list[tuple[str, ...]]:
    """The sections of an experiment judged in pairs only: the pairs, speed, every tip, and
    provenance (the header says why the rubric's are absent)."""
    return [
        *pairwise_section(analysis, blocks),
        ("judges", "Judges", "Judges", judge_list_html(analysis)),
        ("speed", "Speed", "Speed", speed_html(analysis)),
        *closing_parts(analysis),
    ]


def closing_parts(analysis: Analysis) -> list[tuple[str, ...]]:
    """The page's last sections, in every mode: every tip side by side, then provenance."""
    return [
        (
            "explorer",
            "Explorer",
            "Explorer: every tip, side by side",
            explorer_html(analysis.tips, analysis.tip_scores, analysis.rubric.dimension_ids),
        ),
        ("provenance", "Provenance", "Provenance", provenance_html(analysis)),
    ]


def rubric_parts(analysis: Analysis, blocks: Mapping[str, str]) -> list[tuple[str, ...]]:
    """The sections of an experiment scored on the rubric (and, with pairs, the pairs')."""
    return [
        (
            "leaderboard",
            "Leaderboard",
            "Leaderboard",
            leaderboard_html(analysis),
            blocks["heatmap"],
            blocks["forest"],
        ),
        (
            "verdicts",
            "Verdicts",
            f"Verdicts against {analysis.baseline.label}",
            verdicts_html(analysis),
            blocks["baseline"],
        ),
        *pairwise_section(analysis, blocks),
        ("comparisons", "Comparisons", "Comparisons", comparisons_html(analysis)),
        ("scenarios", "Scenarios", "Scenarios", blocks["scenarios"]),
        ("dimensions", "Dimensions", "Rubric dimensions", blocks["dimensions"]),
        ("speed", "Speed", "Speed", blocks["latency"], speed_html(analysis)),
        (
            "length",
            "Length",
            "Length",
            question("length"),
            blocks["length"],
            length_html(analysis),
            blocks["length_adjusted"],
        ),
        (
            "judges",
            "Judges",
            "Judges",
            blocks["agreement"],
            judges_html(analysis),
            spread_html(analysis),
        ),
        (
            "llm-judge",
            "LLM judge",
            "The LLM judge beside people",
            "<h3>Prediction-powered intervals</h3>",
            ppi_html(analysis),
            "<h3>Calibration against people</h3>",
            blocks["calibration"],
            calibration_html(analysis),
        ),
        ("examples", "Examples", "Example tips", examples_html(analysis)),
        *closing_parts(analysis),
    ]


def pairwise_section(analysis: Analysis, blocks: Mapping[str, str]) -> list[tuple[str, ...]]:
    """The pairwise section's entry, none without pairs (no empty section)."""
    if analysis.pairwise is None:
        return []
    return [("pairwise", "Pairwise", "Pairwise judging", pairwise_html(analysis, blocks))]


def render(analysis: Analysis) -> str:
    """The report as one HTML string (see the module docstring for what makes it safe offline)."""
    if not analysis.rubric_judged and analysis.pairwise is None:
        raise TipbenchError(
            "nothing to report: the leaderboard is empty; judge some candidates first"
        )
    parts = sections(analysis)
    return Template(template("report.html")).substitute(
        title=esc(f"tipbench report: {analysis.experiment}"),
        css=template("report.css") + template("explorer.css"),
        bundle=vega_bundle(),
        experiment=esc(analysis.experiment),
        rubric=esc(analysis.rubric.version),
        generated=esc(datetime.now(UTC).isoformat(timespec="seconds")),
        summary=summary_html(analysis),
        nav="".join(f"<a href='#{anchor}'>{esc(label)}</a>" for anchor, label, _ in parts),
        sections="\n".join(html for _, _, html in parts),
        embed=template("embed.js") + template("explorer.js"),
    )


def write_report(out_dir: Path, analysis: Analysis) -> Path:
    """Write ``out_dir/report.html`` (one self-contained file) and return its path."""
    page = render(analysis)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
