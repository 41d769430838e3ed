"""An analysis's headline as the summary run's metrics and tags: MLflow's UI as a leaderboard.

The summary run (:mod:`tipbench_lib.tracking.summary`) held only files, so MLflow's runs view
showed it with 0 metrics and 0 params. Its numbers now go on it as metrics, one per cell with a
name that sorts by cell (``composite/<model>:<prompt>``) and the headline counts, rounded as the
report shows them; its words (top cell, verdict, judges, view) as tags, and the headline with the
leaderboard as the run's description (``mlflow.note.content``, shown on the run's page).

With pairwise judgments (``docs/architecture.md`` section 13) each cell also gets its
Bradley–Terry strength with its interval, its pairwise win rate and rank
(``strength/<model>:<prompt>`` …), so the runs view sorts the cells by either mode; the counts
and, with both modes, Kendall's τ of the two rankings go beside the rubric's.

Words are tags, not params, because MLflow's params are write-once: the summary run is one run
updated by every compare, and a second compare with another top cell would be refused
(INVALID_PARAMETER_VALUE). Tags can be shown as columns of the runs view like params.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tipbench_lib.compare.analysis import Analysis

SHOWN_DIGITS = 3
"""Metrics are rounded to what the report shows (two decimals) plus one."""
MAX_TAG_TEXT = 4000
NOTE_TAG = "mlflow.note.content"


@dataclass(frozen=True)
class SummaryFields:
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def metric_name(*parts: str) -> str:
    """A metric name MLflow accepts (letters, digits, ``_ - . : /`` and spaces; no ``..``)."""
    name = "/".join(re.sub(r"[^\w.\- :]", "_", p) for p in parts)
    return re.sub(r"\.{2,}", "_", name)


def _round(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else round(number, SHOWN_DIGITS)


def cell_text(cell: tuple[str, str] | None) -> str:
    return f"{cell[0]}:{cell[1]}" if cell else ""


def summary_fields(analysis: Analysis) -> SummaryFields:
    """The metrics and tags of the summary run for this analysis."""
    board = analysis.leaderboard
    metrics: dict[str, float] = {}
    for rank, row in enumerate(board.iter_rows(named=True), start=1):
        cell = f"{row['model']}:{row['prompt_version']}"
        for column, prefix in (
            ("composite_mean", "composite"),
            ("composite_lo", "composite_lo"),
            ("composite_hi", "composite_hi"),
        ):
            value = _round(row.get(column))
            if value is not None:
                metrics[metric_name(prefix, cell)] = value
        metrics[metric_name("rank", cell)] = float(rank)
    summary = analysis.summary
    top = summary.winner or (summary.top_group[0] if summary.top_group else None)
    if board.height:
        best = board.row(0, named=True)
        for column in ("composite_mean", "composite_lo", "composite_hi"):
            value = _round(best.get(column))
            if value is not None:
                metrics[f"top_{column}"] = value
    metrics |= counts(analysis)
    verdict = (
        f"winner {cell_text(summary.winner)}"
        if summary.winner
        else f"no winner: {len(summary.top_group)} cell(s) cannot be separated at the top"
    )
    metrics |= pairwise_metrics(analysis)
    strongest = analysis.pairwise.leaderboard.row(0) if analysis.pairwise else None
    tags = {
        "top_cell": cell_text(top),
        "pairwise_top_cell": cell_text(strongest[:2] if strongest else None),
        "verdict": verdict,
        "headline": summary.headline[:MAX_TAG_TEXT],
        "view": analysis.view.name,
        "judges": ", ".join(analysis.view.judges)[:MAX_TAG_TEXT],
        "rubric": analysis.rubric.version,
        "alpha": f"{analysis.options.alpha:g}",
        "baseline": cell_text(analysis.baseline.cell),
        NOTE_TAG: run_note(analysis)[:MAX_TAG_TEXT],
    }
    return SummaryFields(metrics, {k: v for k, v in tags.items() if v})


def counts(analysis: Analysis) -> dict[str, float]:
    """Cells, scenarios, judged tips and judges the headline rests on: the rubric's scores, or
    the pairs when only pairs were judged (``docs/architecture.md`` section 13; their count is
    ``n_pair_judgments``, :func:`pairwise_metrics`)."""
    judges = {"n_judges": float(len(analysis.view.judges))}
    if not analysis.rubric_judged and analysis.pairwise is not None:
        found = analysis.pairwise
        return {
            "n_cells": float(found.leaderboard.height),
            "n_scenarios": float(found.outcomes["scenario_id"].n_unique()),
        } | judges
    return {
        "n_cells": float(analysis.leaderboard.height),
        "n_scenarios": float(analysis.scenario_means["scenario_id"].n_unique()),
        "n_candidates": float(analysis.scores["candidate_id"].n_unique()),
    } | judges


def pairwise_metrics(analysis: Analysis) -> dict[str, float]:
    """Per cell its strength, interval, win rate and pairwise rank; the counts; τ (both modes)."""
    found = analysis.pairwise
    if found is None:
        return {}
    metrics: dict[str, float] = {}
    for row in found.leaderboard.iter_rows(named=True):
        cell = f"{row['model']}:{row['prompt_version']}"
        for column, prefix in (
            ("strength", "strength"),
            ("strength_lo", "strength_lo"),
            ("strength_hi", "strength_hi"),
            ("win_rate", "pair_win_rate"),
            ("rank", "pair_rank"),
        ):
            value = _round(row.get(column))
            if value is not None:
                metrics[metric_name(prefix, cell)] = value
    metrics["n_pair_judgments"] = float(found.outcomes.height)
    metrics["n_pair_judges"] = float(len(found.judges.judges))
    tau = _round(found.agreement.tau) if found.agreement is not None else None
    if tau is not None:
        metrics["rank_agreement_tau"] = tau
    return metrics


def run_note(analysis: Analysis) -> str:
    """The run's description in MLflow: the headline and the leaderboard as Markdown."""
    lines = [f"**{analysis.summary.headline}**", ""]
    if analysis.rubric_judged:
        lines += ["| cell | composite | interval |", "|---|---|---|"]
    for row in analysis.leaderboard.head(30).iter_rows(named=True):
        mean, lo, hi = (
            _round(row.get(c)) for c in ("composite_mean", "composite_lo", "composite_hi")
        )
        interval = f"[{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "n/a"
        shown = f"{mean:.2f}" if mean is not None else "n/a"
        lines.append(f"| {row['model']}:{row['prompt_version']} | {shown} | {interval} |")
    if analysis.pairwise is not None:
        lines += ["", f"**{analysis.pairwise.headline}**", "", "| cell | strength | interval |"]
        lines.append("|---|---|---|")
        for row in analysis.pairwise.leaderboard.head(30).iter_rows(named=True):
            lo, hi = row["strength_lo"], row["strength_hi"]
            interval = f"[{lo:+.2f}, {hi:+.2f}]" if lo is not None and hi is not None else "n/a"
            shown = f"{row['strength']:+.2f}" if row["strength"] is not None else "n/a"
            lines.append(f"| {row['model']}:{row['prompt_version']} | {shown} | {interval} |")
    lines += ["", "The report and the tables are this run's artifacts (report.html)."]
    return "\n".join(lines)
