"""The offline HTML report and the CSV tables of the compare phase.

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
from functools import lru_cache
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import vl_convert

from tipbench_lib import stats
from tipbench_lib.compare import charts
from tipbench_lib.compare.load import require_columns
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.escaping import html_text as esc
from tipbench_lib.core.schema import COMPARISONS_CSV_COLUMNS, DIMENSIONS, LEADERBOARD_CSV_COLUMNS
from tipbench_lib.stats.headline import Summary, involving, shown_baseline, summarize
from tipbench_lib.stats.intervals import DEFAULT_METHOD
from tipbench_lib.stats.judges import View, choose_view, judge_panel
from tipbench_lib.stats.sentences import percent as level_text

MAX_TABLE_ROWS = 300
"""Comparison rows shown in the page; the CSV always has all of them."""
MAX_SENTENCES = 60
CANVAS_ABOVE_ROWS = 3000
"""Charts with more data rows than this draw on canvas: thousands of SVG nodes make a page crawl."""


@dataclass
class ReportData:
    """Everything the report shows, as the frames ``tipbench_lib.stats`` returns.

    The compare notebook computes these once for its own display and hands the same frames here,
    so the report never disagrees with the notebook and the statistics run once.
    """

    scores: pl.DataFrame
    scenario_means: pl.DataFrame
    leaderboard: pl.DataFrame
    comparisons: pl.DataFrame
    agreement: pl.DataFrame
    speed: pl.DataFrame
    front: pl.DataFrame
    candidates: pl.DataFrame
    """Only for the example tips' text (candidate_id, text)."""
    judgments: pl.DataFrame | None = None
    """For the judges' summary (who scored how many, when); optional."""
    length: pl.DataFrame | None = None
    llm_human: pl.DataFrame | None = None
    view: View | None = None
    """The judges the leaderboard and the verdicts rest on."""
    panel: pl.DataFrame | None = None
    """One row per judge: kind, size, agreement, provisional (``stats.judges.judge_panel``)."""
    alpha: float = 0.05
    baseline: tuple[str, str] | None = None
    """The baseline the user named before seeing the data (None: all pairs are primary)."""

    @classmethod
    def compute(
        cls,
        cells: pl.DataFrame,
        candidates: pl.DataFrame,
        judgments: pl.DataFrame,
        *,
        baseline: tuple[str, str] | None = None,
        alpha: float = 0.05,
        view: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        judges: Sequence[str] | None = None,
        method: str = DEFAULT_METHOD,
        n_boot: int = 2000,
        n_perm: int = 10000,
        seed: int = 0,
    ) -> ReportData:
        """Run the statistics the report needs, for callers that have only the three frames.

        ``view`` picks the judges (``people``, ``all`` or an LLM judge's id; the default is
        people when any person judged, else the busiest LLM judge).
        """
        chosen = judgments if judges is None else judgments.filter(pl.col("judge_id").is_in(judges))
        panel = judge_panel(chosen, provenance)
        picked = choose_view(panel, view)
        scores = stats.score_table(cells, candidates, chosen, judges=picked.judges)
        if scores.height == 0:
            raise TipbenchError(
                "no judged candidates to report on: judge some (`tipbench judge`, or the judge "
                "app) or widen the judge filter before writing a report"
            )
        scale = stats.scale_of(chosen)
        leaderboard = stats.leaderboard(
            scores, n_boot=n_boot, seed=seed, level=1 - alpha, method=method, scale=scale
        )
        comparisons = stats.compare_pairs(
            stats.judge_scores(cells, candidates, chosen, judges=picked.judges),
            alpha=alpha,
            baseline=baseline,
            provisional_judges=picked.provisional_judges,
            scale=scale,
            method=method,
            n_boot=n_boot,
            n_perm=n_perm,
            seed=seed,
        )
        speed = stats.speed_by_model(candidates, cells)
        return cls(
            scores=scores,
            scenario_means=stats.scenario_means(scores),
            leaderboard=leaderboard,
            comparisons=comparisons,
            agreement=stats.judge_agreement(chosen),
            speed=speed,
            front=stats.pareto_front(leaderboard, speed),
            candidates=candidates,
            judgments=chosen,
            length=stats.length_effect(scores),
            llm_human=stats.llm_vs_human(chosen),
            view=picked,
            panel=panel,
            alpha=alpha,
            baseline=baseline,
        )

    def summary(self) -> Summary:
        """The headline and its supporting lines (the notebook shows the same)."""
        view = self.view or View("all", (), (), True)
        return summarize(
            self.leaderboard,
            self.comparisons,
            view=view,
            alpha=self.alpha,
            baseline=self.baseline,
        )


# ---------------------------------------------------------------- CSV tables


def write_tables(
    out_dir: Path, leaderboard: pl.DataFrame, comparisons: pl.DataFrame
) -> tuple[Path, Path]:
    """Write leaderboard.csv and comparisons.csv, fixed columns first (other tools read them)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame, fixed, source in (
        ("leaderboard.csv", leaderboard, LEADERBOARD_CSV_COLUMNS, "leaderboard"),
        ("comparisons.csv", comparisons, COMPARISONS_CSV_COLUMNS, "compare_pairs"),
    ):
        require_columns(frame, fixed, f"{name} (to write)", f"tipbench_lib.stats.{source}")
        extra = [
            c
            for c in frame.columns
            if c not in fixed and c != "rank" and frame.schema[c].is_numeric()
        ]
        path = out_dir / name
        frame.select(*fixed, *extra).write_csv(path)
        written.append(path)
    return written[0], written[1]


# ---------------------------------------------------------------- escaping and formatting


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
    note: str = ""

    def html(self) -> str:
        spec = self.chart.to_dict()
        rows = sum(len(d) for d in spec.get("datasets", {}).values())
        renderer = "canvas" if rows > CANVAS_ABOVE_ROWS else "svg"
        note = f"<p class='note'>{self.note}</p>" if self.note else ""
        return (
            f"<figure class='chart-block' id='{self.anchor}'>"
            f"<div class='chart' data-spec='spec-{self.anchor}' data-renderer='{renderer}'"
            f" role='img' aria-label='{esc(self.title)}'></div>{note}"
            f"<script type='application/json' id='spec-{self.anchor}'>{script_json(spec)}</script>"
            "</figure>"
        )


EMBED_SCRIPT = """
(function () {
  document.querySelectorAll('.chart[data-spec]').forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    var options = {renderer: el.dataset.renderer, actions: false};
    vegaEmbed(el, spec, options).catch(function (err) {
      el.textContent = 'This chart could not be drawn: ' + err;
      console.error(err);
    });
  });
})();
"""


# ---------------------------------------------------------------- report sections


def effective_baseline(data: ReportData, baseline: tuple[str, str] | None) -> tuple[str, str]:
    """The cell the verdict list is read against: the named baseline, or the best cell."""
    return shown_baseline(data.leaderboard, baseline)[0]


def summary_html(data: ReportData, alpha: float) -> str:
    """The header: the headline (a winner only when it beats every cell), then its evidence."""
    summary = data.summary()
    best = data.leaderboard.row(0, named=True)
    n_scen = data.scores["scenario_id"].n_unique()
    n_tips = data.scores.height
    level = level_text(1 - alpha)
    best_ci = interval(best["composite_mean"], best["composite_lo"], best["composite_hi"], 1)
    scale = stats.scale_of(data.judgments) if data.judgments is not None else stats.scale_for([])
    low, high = scale.composite
    lines = [
        f"<p class='headline'>{esc(summary.headline)}</p>",
        f"<p class='sub'>Highest mean: <strong>"
        f"{esc(cell_label(best['model'], best['prompt_version']))}</strong>, composite {best_ci}"
        f" ({level} interval) on the {low:g}–{high:g} scale, over "
        f"{best.get('n_scenarios', '?')} scenarios and {best.get('n_candidates', '?')} tips of "
        f"its own; {n_scen} scenarios and {n_tips} judged tips in all.</p>",
    ]
    lines += [f"<p class='sub'>{esc(line)}</p>" for line in summary.lines]
    if data.view is not None:
        lines.append(f"<p class='sub muted'>{esc(view_sentence(data))}</p>")
    if summary.family_line:
        lines.append(f"<p class='sub muted'>{esc(summary.family_line)}</p>")
    return "\n".join(lines)


def view_sentence(data: ReportData) -> str:
    """Which judges the numbers rest on, and why some verdicts are provisional."""
    view = data.view
    text = f"Scores and verdicts rest on the judge view {view.label}"
    text += " (the default)." if view.is_default else " (chosen)."
    if data.panel is not None and view.provisional:
        reasons = data.panel.filter(pl.col("judge_id").is_in(list(view.provisional_judges)))
        why = "; ".join(f"{r['judge_id']}: {r['reason']}" for r in reasons.iter_rows(named=True))
        text += f" Provisional, because of weak judges ({why})."
    return text


def leaderboard_html(lb: pl.DataFrame, level: float = 0.95) -> str:
    columns: list[Column] = [
        ("Rank", field("rank", num), "num"),
        ("Model", field("model"), ""),
        ("Prompt", field("prompt_version"), ""),
        (
            f"Composite [{level_text(level)} CI]",
            lambda r: interval(r["composite_mean"], r["composite_lo"], r["composite_hi"]),
            "num",
        ),
    ]
    for d in DIMENSIONS:
        columns.append(
            (
                d.capitalize(),
                lambda r, d=d: interval(r[f"{d}_mean"], r[f"{d}_lo"], r[f"{d}_hi"]),
                "num",
            )
        )
    columns += [
        ("Format ok", field("format_ok_mean", percent), "num"),
        ("Overlong", field("overlong_mean", percent), "num"),
        ("Scenarios", field("n_scenarios", num), "num"),
        ("Tips", field("n_candidates", num), "num"),
    ]
    if "interval_note" in lb.columns:
        columns.append(("Interval note", field("interval_note"), ""))
    return table(lb.iter_rows(named=True), columns)


def comparison_rows(data: ReportData, baseline: tuple[str, str] | None) -> pl.DataFrame:
    """Rows for the page: a baseline's comparisons, or the clearest results first."""
    comps = data.comparisons
    if baseline is not None:
        comps = involving(comps, baseline)
    order = {"better": 0, "worse": 0, "indistinguishable": 1, "underpowered": 2, "confounded": 3}
    return comps.with_columns(
        pl.col("verdict").replace_strict(order, default=4).alias("_order")
    ).sort(["_order", "p_holm", "p_wilcoxon"], nulls_last=True)


def comparisons_html(rows: pl.DataFrame, level: float = 0.95) -> str:
    columns: list[Column] = [
        ("A", lambda r: esc(cell_label(r["a_model"], r["a_prompt"])), ""),
        ("B", lambda r: esc(cell_label(r["b_model"], r["b_prompt"])), ""),
        ("Family", lambda r: esc(f"{r.get('family')} ({r.get('family_size')})"), ""),
        ("Scenarios", field("n_scenarios", num), "num"),
        (
            f"A − B [{level_text(level)} CI]",
            lambda r: interval(r["diff_mean"], r["diff_lo"], r["diff_hi"]),
            "num",
        ),
        ("Signed-rank p", field("p_wilcoxon", pval), "num"),
        ("Holm p (adjusted)", field("p_holm", pval), "num"),
        ("Sign-flip p (unadjusted)", field("p_permutation", pval), "num"),
        (
            "Verdict",
            lambda r: (
                f"<span class='verdict {esc(r['verdict'])}'>{esc(r['verdict'])}</span>"
                + (" <span class='prov'>provisional</span>" if r.get("provisional") else "")
            ),
            "",
        ),
        ("Judges", field("judges"), ""),
    ]
    if "mdd" in rows.columns:
        columns.append(("Detectable diff.", field("mdd", num), "num"))
    if "scenarios_needed" in rows.columns:
        columns.append(("Scenarios needed", field("scenarios_needed", num), "num"))
    if "interval_note" in rows.columns:
        columns.append(("Note", field("interval_note"), ""))
    shown = rows.head(MAX_TABLE_ROWS)
    more = rows.height - shown.height
    note = (
        f"<p class='note'>Showing {shown.height} of {rows.height} comparisons; "
        "comparisons.csv has them all.</p>"
        if more > 0
        else ""
    )
    legend = (
        "<p class='note'>Verdicts use the Holm-adjusted signed-rank p within each family; the "
        "sign-flip p of the mean difference is an unadjusted check and decides nothing. "
        "Detectable diff.: the difference found 80% of the time at the family's first Holm "
        "threshold; scenarios needed: to find the observed difference that often.</p>"
    )
    return legend + table(shown.iter_rows(named=True), columns) + note


def sentences_html(data: ReportData, baseline: tuple[str, str]) -> str:
    rows = involving(data.comparisons, baseline).head(MAX_SENTENCES)
    items = "\n".join(f"<li>{esc(stats.sentence(r))}</li>" for r in rows.iter_rows(named=True))
    return f"<ul class='sentences'>{items}</ul>" if items else "<p>No comparisons.</p>"


def example_tips(scores: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """The top and bottom judged tip of every cell, with its text (ties broken by id)."""
    judged = scores.select("candidate_id", "model", "prompt_version", "scenario_id", "composite")
    judged = judged.join(candidates.select("candidate_id", "text"), on="candidate_id", how="left")
    ranked = judged.sort(["composite", "candidate_id"], descending=[True, False])
    keys = ["model", "prompt_version"]
    top = (
        ranked.group_by(keys, maintain_order=True)
        .first()
        .with_columns(pl.lit("top").alias("which"))
    )
    bottom = (
        ranked.group_by(keys, maintain_order=True)
        .last()
        .with_columns(pl.lit("bottom").alias("which"))
    )
    return pl.concat([top, bottom])


def tip_html(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "–"
    return (
        f"<div class='tip'><span class='score'>{num(row['composite'], 1)}</span>"
        f"<span class='scenario'>{esc(row['scenario_id'])}</span>"
        f"<pre class='tip-text'>{esc(row['text'])}</pre></div>"
    )


def examples_html(data: ReportData) -> str:
    tips = example_tips(data.scores, data.candidates)
    by_cell = {(r["model"], r["prompt_version"], r["which"]): r for r in tips.iter_rows(named=True)}
    rows = []
    for cell in data.leaderboard.select("model", "prompt_version").iter_rows():
        rows.append(
            {
                "cell": cell,
                "top": by_cell.get((*cell, "top")),
                "bottom": by_cell.get((*cell, "bottom")),
            }
        )
    columns: list[Column] = [
        ("Cell", lambda r: esc(cell_label(r["cell"][0], r["cell"][1])), ""),
        ("Highest-scored tip", lambda r: tip_html(r["top"]), "tipcol"),
        ("Lowest-scored tip", lambda r: tip_html(r["bottom"]), "tipcol"),
    ]
    return table(rows, columns)


def judge_label(kind: Any, entry: Mapping[str, Any]) -> str:
    """How a judge is described; an LLM judge flagged weak says so plainly."""
    if kind == "llm":
        model = entry.get("model")
        base = "LLM judge (weak: a small model)" if entry.get("weak") else "LLM judge"
        return f"{base}, {model}" if model else base
    return {"human": "person", "import": "imported scores"}.get(str(kind), str(kind))


def judges_rows(data: ReportData, provenance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per judge: provenance's description merged with what the judgments show."""
    declared = provenance.get("judges") or {}
    if isinstance(declared, list):
        declared = {str(j.get("judge_id", i)): j for i, j in enumerate(declared)}
    counts: dict[str, dict[str, Any]] = {}
    if data.judgments is not None and data.judgments.height:
        summary = data.judgments.group_by("judge_id").agg(
            pl.col("judge_kind").first(),
            pl.len().alias("n"),
            pl.col("created_at").min().alias("first"),
            pl.col("created_at").max().alias("last"),
        )
        counts = {r["judge_id"]: r for r in summary.iter_rows(named=True)}
    rows = []
    for judge_id in sorted(set(declared) | set(counts)):
        entry = dict(declared.get(judge_id, {}))
        seen = counts.get(judge_id, {})
        kind = entry.get("kind") or seen.get("judge_kind")
        rows.append(
            {
                "judge_id": judge_id,
                "label": judge_label(kind, entry),
                "n": seen.get("n", entry.get("ok")),
                "dates": date_range(seen.get("first"), seen.get("last")),
            }
        )
    return rows


def date_range(first: Any, last: Any) -> str:
    if first is None:
        return ""
    a, b = (
        v.isoformat(timespec="seconds") if isinstance(v, datetime) else str(v)
        for v in (first, last)
    )
    return a if a == b else f"{a} – {b}"


def judges_html(data: ReportData, provenance: Mapping[str, Any]) -> str:
    columns: list[Column] = [
        ("Judge", field("judge_id"), ""),
        ("Kind", field("label"), ""),
        ("Judgments", field("n", num), "num"),
        ("When", field("dates"), ""),
    ]
    parts = [table(judges_rows(data, provenance), columns)]
    if data.view is not None:
        parts.append(f"<p class='note'>{esc(view_sentence(data))}</p>")
    if data.panel is not None and data.panel.height:
        parts.append("<h3>Agreement on the composite, and provisional judges</h3>")
        parts.append(
            table(
                data.panel.iter_rows(named=True),
                [
                    ("Judge", field("judge_id"), ""),
                    ("Kind", field("kind"), ""),
                    ("Judgments", field("n_judgments", num), "num"),
                    ("Checked against", field("reference"), ""),
                    ("Krippendorff α (composite)", field("alpha", lambda v: num(v, 3)), "num"),
                    ("Provisional because", field("reason"), ""),
                ],
            )
        )
    agreement = data.agreement
    if agreement.height:
        parts.append(
            table(
                agreement.iter_rows(named=True),
                [
                    ("Dimension", field("dimension"), ""),
                    ("Krippendorff α", field("alpha", lambda v: num(v, 3)), "num"),
                    ("Tips scored by 2+ judges", field("n_items", num), "num"),
                    ("Judges", field("n_judges", num), "num"),
                ],
            )
        )
    if data.llm_human is not None and data.llm_human.height:
        parts.append("<h3>LLM judge against people</h3>")
        parts.append(
            table(
                data.llm_human.iter_rows(named=True),
                [
                    ("Dimension", field("dimension"), ""),
                    ("Tips", field("n_items", num), "num"),
                    ("α", field("alpha", lambda v: num(v, 3)), "num"),
                    ("Mean diff (LLM − people)", field("mean_diff", num), "num"),
                    ("Spearman", field("spearman", num), "num"),
                ],
            )
        )
    return "\n".join(parts)


def speed_html(speed: pl.DataFrame) -> str:
    columns: list[Column] = [
        ("Model", field("model"), ""),
        ("Tips", field("n", num), "num"),
        ("Tokens/s (median)", field("tokens_per_s_median", lambda v: num(v, 1)), "num"),
        ("Latency median (s)", field("latency_s_median", num), "num"),
        ("Latency p95 (s)", field("latency_s_p95", num), "num"),
        ("Load (s)", field("load_s", num), "num"),
    ]
    return table(speed.iter_rows(named=True), columns)


def length_html(length: pl.DataFrame | None) -> str:
    if length is None or length.height == 0:
        return ""
    columns: list[Column] = [
        ("Model", field("model"), ""),
        ("Prompt", field("prompt_version"), ""),
        ("Spearman (score, length)", field("spearman", num), "num"),
        (
            "Points per 100 chars",
            field("slope", num),
            "num",
        ),
    ]
    return table(length.iter_rows(named=True), columns)


def plain(value: Any) -> str:
    """A provenance value as one line of text: lists joined, anything nested as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


def provenance_html(provenance: Mapping[str, Any]) -> str:
    """Every provenance entry, known ones laid out, the rest shown as escaped JSON."""
    items = []
    known = {"models", "prompts", "judges"}
    for key, value in provenance.items():
        if key in known:
            continue
        shown = plain(value)
        items.append(f"<dt>{esc(key.replace('_', ' '))}</dt><dd>{esc(shown)}</dd>")
    parts = [f"<dl class='prov'>{''.join(items)}</dl>"]
    models = provenance.get("models") or {}
    if isinstance(models, Mapping):
        models = [
            {"model": k, **(v if isinstance(v, Mapping) else {"model_digest": v})}
            for k, v in models.items()
        ]
    if models:
        keys = sorted({k for m in models for k in m} - {"model"})
        parts.append("<h3>Models</h3>")
        parts.append(
            table(
                models,
                [("Model", field("model"), "")]
                + [(k.replace("_", " "), field(k), "mono") for k in keys],
            )
        )
    prompts = provenance.get("prompts") or {}
    if isinstance(prompts, Mapping):
        prompts = [{"version": k, "hash": v} for k, v in prompts.items()]
    if prompts:
        parts.append("<h3>Prompts</h3>")
        parts.append(
            table(
                prompts,
                [("Version", field("version"), ""), ("Content hash", field("hash"), "mono")],
            )
        )
    return "\n".join(parts)


def chart_blocks(data: ReportData, baseline: tuple[str, str]) -> dict[str, ChartBlock]:
    """All charts of the report, keyed by the section that shows them."""
    level = 1 - data.alpha
    return {
        "heatmap": ChartBlock("chart-heatmap", "Heatmap", charts.heatmap(data.leaderboard, level)),
        "forest": ChartBlock(
            "chart-forest", "Cell means", charts.forest_plot(data.leaderboard, level)
        ),
        "baseline": ChartBlock(
            "chart-baseline",
            "Differences from the baseline",
            charts.baseline_differences(data.comparisons, baseline, level),
        ),
        "scenarios": ChartBlock(
            "chart-scenarios", "Per-scenario scores", charts.scenario_dots(data.scenario_means)
        ),
        "dimensions": ChartBlock(
            "chart-dimensions",
            "Rubric dimensions",
            charts.dimension_breakdown(data.leaderboard, level),
        ),
        "latency": ChartBlock(
            "chart-latency",
            "Quality against latency",
            charts.quality_latency(data.leaderboard, data.speed, data.front, level),
        ),
        "length": ChartBlock(
            "chart-length", "Score against length", charts.score_length(data.scores)
        ),
        "agreement": ChartBlock(
            "chart-agreement", "Judge agreement", charts.judge_agreement(data.agreement)
        ),
    }


# ---------------------------------------------------------------- the page


def section(anchor: str, title: str, *body: str) -> str:
    heading = f"<h2><a href='#{anchor}'>{esc(title)}</a></h2>"
    return f"<section id='{anchor}'>{heading}{''.join(body)}</section>"


def write_report(
    out_dir: Path,
    *,
    data: ReportData,
    provenance: Mapping[str, Any],
    baseline: tuple[str, str] | None = None,
    alpha: float | None = None,
) -> Path:
    """Write ``out_dir/report.html`` (one self-contained file) and return its path."""
    if data.leaderboard.height == 0:
        raise TipbenchError(
            "nothing to report: the leaderboard is empty; judge some candidates first"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render(data, provenance, baseline=baseline, alpha=alpha), encoding="utf-8")
    return path


def settled(
    data: ReportData, alpha: float | None, baseline: tuple[str, str] | None
) -> tuple[float, tuple[str, str] | None]:
    """The analysis' alpha and baseline; a different one asked of the page is refused."""
    if alpha is not None and not math.isclose(alpha, data.alpha):
        raise TipbenchError(
            f"the statistics were computed at alpha = {data.alpha:g}, not {alpha:g}; compute "
            "them again with that alpha (ReportData.compute(..., alpha=...))"
        )
    if baseline is not None and tuple(baseline) != tuple(data.baseline or ()):
        raise TipbenchError(
            f"the statistics were computed with baseline {data.baseline}, not {baseline}; "
            "compute them again with that baseline, which decides the Holm families"
        )
    return data.alpha, data.baseline


def render(
    data: ReportData,
    provenance: Mapping[str, Any],
    *,
    baseline: tuple[str, str] | None = None,
    alpha: float | None = None,
) -> str:
    """The report as one HTML string (see the module docstring for what makes it safe offline)."""
    alpha, baseline = settled(data, alpha, baseline)
    base, base_why = shown_baseline(data.leaderboard, baseline)
    blocks = chart_blocks(data, base)
    base_name = cell_label(*base)
    level = 1 - alpha
    experiment = provenance.get("experiment", "unnamed experiment")
    sections = [
        section(
            "leaderboard",
            "Leaderboard",
            leaderboard_html(data.leaderboard, level),
            blocks["heatmap"].html(),
            blocks["forest"].html(),
        ),
        section(
            "verdicts",
            f"Verdicts against {base_name}",
            f"<p class='note'>Against {esc(base_name)}, {esc(base_why)}. Differences are paired "
            "on shared scenarios and on the judges who scored both cells, with tips averaged "
            "per scenario first.</p>",
            sentences_html(data, base),
            blocks["baseline"].html(),
        ),
        section(
            "comparisons",
            "Comparisons",
            comparisons_html(comparison_rows(data, baseline), level),
        ),
        section("scenarios", "Scenarios", blocks["scenarios"].html()),
        section("dimensions", "Rubric dimensions", blocks["dimensions"].html()),
        section("speed", "Speed", blocks["latency"].html(), speed_html(data.speed)),
        section("length", "Length", blocks["length"].html(), length_html(data.length)),
        section("judges", "Judges", blocks["agreement"].html(), judges_html(data, provenance)),
        section(
            "examples",
            "Example tips",
            "<p class='note'>The highest- and lowest-scored tip of each cell, exactly as the model "
            "wrote it.</p>",
            examples_html(data),
        ),
        section("provenance", "Provenance", provenance_html(provenance)),
    ]
    nav = "".join(
        f"<a href='#{a}'>{t}</a>"
        for a, t in (
            ("leaderboard", "Leaderboard"),
            ("verdicts", "Verdicts"),
            ("comparisons", "Comparisons"),
            ("scenarios", "Scenarios"),
            ("dimensions", "Dimensions"),
            ("speed", "Speed"),
            ("length", "Length"),
            ("judges", "Judges"),
            ("examples", "Examples"),
            ("provenance", "Provenance"),
        )
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return PAGE.format(
        title=esc(f"tipbench report: {experiment}"),
        css=CSS,
        bundle=vega_bundle(),
        experiment=esc(experiment),
        summary=summary_html(data, alpha),
        generated=esc(generated),
        nav=nav,
        sections="\n".join(sections),
        embed=EMBED_SCRIPT,
    )


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script>{bundle}</script>
</head>
<body>
<header>
<p class="kicker">tipbench report · experiment <span class="mono">{experiment}</span>
 · generated {generated}</p>
{summary}
<nav>{nav}</nav>
</header>
<main>
{sections}
</main>
<script>{embed}</script>
</body>
</html>
"""

CSS = """
:root { --ink: #1d232b; --muted: #5b6673; --line: #dde2e8; --accent: #0072B2; --bg: #fbfbfc; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
header { background: #fff; border-bottom: 1px solid var(--line);
  padding: 28px max(40px, calc((100% - 1100px) / 2)) 0; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 40px 60px; }
.kicker { color: var(--muted); font-size: 13px; margin: 0 0 6px; }
.headline { font-size: 26px; line-height: 1.25; margin: 0 0 6px; font-weight: 500; }
.headline strong { color: var(--accent); font-weight: 700; }
.sub { margin: 2px 0; } .muted { color: var(--muted); font-size: 13px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 18px; margin-top: 18px; padding: 10px 0; }
nav a { color: var(--muted); text-decoration: none; font-size: 14px; }
nav a:hover { color: var(--accent); }
section { padding-top: 24px; }
h2 { font-size: 20px; margin: 18px 0 12px; border-bottom: 1px solid var(--line);
  padding-bottom: 6px; }
h2 a { color: inherit; text-decoration: none; }
h3 { font-size: 16px; margin: 20px 0 8px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 10px; }
.table-wrap { overflow-x: auto; margin: 10px 0 18px; }
table { border-collapse: collapse; background: #fff; font-size: 13.5px; min-width: 50%; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { font-weight: 600; background: #f2f4f7; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #f6f9fc; }
.ci { color: var(--muted); font-size: 12px; }
span.mono, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.verdict { padding: 1px 7px; border-radius: 9px; font-size: 12px; white-space: nowrap; }
.verdict.better { background: #d6e9f5; color: #004c78; }
.verdict.worse { background: #f8ddd0; color: #8a3300; }
.verdict.indistinguishable { background: #ececec; color: #444; }
.verdict.underpowered { background: #f5e1ee; color: #7a2e5e; }
.verdict.confounded { background: #fbe9c6; color: #6b4a00; }
.prov { color: var(--muted); font-size: 11px; font-style: italic; }
ul.sentences { padding-left: 20px; } ul.sentences li { margin: 3px 0; }
figure.chart-block { margin: 14px 0 26px; background: #fff; border: 1px solid var(--line);
  border-radius: 6px; padding: 14px; overflow-x: auto; }
td.tipcol { width: 40%; }
.tip .score { display: inline-block; font-weight: 700; margin-right: 8px; }
.tip .scenario { color: var(--muted); font-size: 12px; }
pre.tip-text { white-space: pre-wrap; word-break: break-word; margin: 4px 0 0; font: inherit;
  background: #f7f8fa; border-left: 3px solid var(--line); padding: 6px 9px; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; }
dl.prov dt { color: var(--muted); } dl.prov dd { margin: 0; word-break: break-word; }
"""
