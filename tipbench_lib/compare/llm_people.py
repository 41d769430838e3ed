"""An LLM judge beside the people: prediction-powered intervals, and where the LLM judge can be
trusted (its calibration against people per dimension, every judge's verbosity slope).

**PPI, automatic when valid.** When an LLM judge scored every candidate and people scored whole
scenarios drawn by the ``ppi-uniform`` queue (its record, kept in the MLflow experiment tag
``tipbench.ppi_sampling`` and the snapshot's provenance, says which order they were drawn in),
:func:`ppi_view` combines them per primary comparison with :func:`tipbench_lib.stats.ppi_compare`
(PPI++ on scenario-level paired differences, Holm over the family) and shows the result beside
the people-only one. Without ``--ppi`` this happens only when the conditions hold, and the
analysis says in a sentence why it did not otherwise; ``--ppi LLM_JUDGE_ID`` asks for it and is
refused, with the reason, when the conditions do not hold (e.g. people's scenarios are not the
recorded random order's first ones: their subset is not a random sample and PPI would be biased).

Paired differences follow :mod:`tipbench_lib.stats.pairs`: per (scenario, judge) the difference
of the judge's tip means of the two cells, per scenario the mean over the people who scored both;
the LLM judge's difference is its own. The primary family is compare's: every cell against the
baseline named before the data, else all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tipbench_lib import stats
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.stats.scale import ScoreScale
from tipbench_lib.tracking.mapping import SAMPLING_KEY

PPI_COLUMNS = (
    "a_model",
    "a_prompt",
    "b_model",
    "b_prompt",
    "diff_people",
    "lo_people",
    "hi_people",
    "p_holm_people",
    "verdict_people",
    "diff_ppi",
    "lo_ppi",
    "hi_ppi",
    "p_ppi",
    "p_holm_ppi",
    "verdict_ppi",
    "n_human_scenarios",
    "n_llm_only_scenarios",
    "effective_human_scenarios",
    "effective_human_cards",
    "lambda",
)


class PPIRefused(TipbenchError):
    """PPI was asked for and its conditions do not hold (the message says which)."""


@dataclass(frozen=True)
class PPIView:
    """PPI beside people-only per primary comparison, or why there is none."""

    rows: pl.DataFrame
    llm_judge: str
    note: str


def primary_pairs(
    cells: list[tuple[str, str]], baseline: tuple[str, str] | None
) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Compare's primary family: (cell, baseline) for every other cell, else every pair."""
    cells = sorted(cells)
    if baseline is not None:
        return [(c, tuple(baseline)) for c in cells if c != tuple(baseline)]  # type: ignore[misc]
    return [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]


def _llm_judges(judgments: pl.DataFrame) -> list[str]:
    if judgments.height == 0:
        return []
    llm = judgments.filter(pl.col("judge_kind") == "llm")
    return sorted(llm["judge_id"].unique().to_list())


def ppi_view(
    data: Any,
    scale: ScoreScale,
    *,
    llm_judge: str | None,
    baseline: tuple[str, str] | None,
    alpha: float,
) -> PPIView | None:
    """PPI per primary comparison; None (automatic, conditions not met) or :class:`PPIRefused`
    (asked for with ``llm_judge``) when it cannot be done. ``data`` is an ``ExperimentData``."""
    try:
        return _ppi(data, scale, llm_judge, baseline, alpha)
    except PPIRefused:
        if llm_judge is not None:
            raise
        return None


def ppi_absent_note(data: Any, scale: ScoreScale) -> str:
    """Why there is no PPI view, in a sentence (for the automatic case): no LLM judge, no
    person, or the condition PPI's refusal names."""
    kinds = set(data.judgments["judge_kind"].to_list()) if data.judgments.height else set()
    if "llm" not in kinds:
        return (
            "No LLM judge scored this experiment, so there is no prediction-powered view: the "
            "verdicts rest on the people alone."
        )
    if not kinds & set(PEOPLE_KINDS):
        return (
            "No person scored a tip, so there is no prediction-powered view (it corrects an LLM "
            "judge with people's scores on a random sample of scenarios)."
        )
    try:
        _ppi(data, scale, None, None, 0.05)
    except PPIRefused as exc:
        return f"No prediction-powered view: {exc}"
    return ""


def _ppi(
    data: Any,
    scale: ScoreScale,
    llm_judge: str | None,
    baseline: tuple[str, str] | None,
    alpha: float,
) -> PPIView:
    record = data.provenance.get(SAMPLING_KEY)
    per_judge = stats.judgment_scores(data.cells, data.candidates, data.judgments, scale=scale)
    kinds = dict(zip(data.judgments["judge_id"], data.judgments["judge_kind"], strict=False))
    judge = _pick_llm_judge(data, per_judge, llm_judge)
    people_ids = [j for j, k in kinds.items() if k in PEOPLE_KINDS]
    people = per_judge.filter(pl.col("judge_id").is_in(people_ids))
    if people.height == 0:
        raise PPIRefused("no person has scored a tip; PPI corrects an LLM judge with people")
    scenarios = sorted(set(data.cells["scenario_id"].to_list()))
    try:
        stats.check_ppi_sample(record, set(people["scenario_id"].to_list()), scenarios)
    except TipbenchError as exc:
        raise PPIRefused(str(exc)) from None
    cells = sorted(set(data.cells.select("model", "prompt_version").iter_rows()))
    pairs = primary_pairs(cells, baseline)
    if not pairs:
        raise PPIRefused("the experiment has a single cell: there is nothing to compare")
    llm = per_judge.filter(pl.col("judge_id") == judge)
    y = _differences(people, pairs, scenarios)
    yhat = _differences(llm, pairs, scenarios)
    tips = _tips_per_scenario(data, pairs)
    try:
        rows = stats.ppi_compare(y, yhat, alpha, cards_per_scenario=tips)
    except TipbenchError as exc:
        raise PPIRefused(str(exc)) from None
    frame = pl.DataFrame(
        [
            {
                "a_model": a[0],
                "a_prompt": a[1],
                "b_model": b[0],
                "b_prompt": b[1],
                **row,
            }
            for (a, b), row in zip(pairs, rows, strict=True)
        ]
    ).select(list(PPI_COLUMNS))
    n_people = len(set(people["scenario_id"].to_list()))
    note = (
        f"People scored {n_people} of {len(scenarios)} scenarios, drawn by the ppi-uniform "
        f"queue's recorded random order; the LLM judge {judge} scored every tip. "
        "Prediction-powered intervals (PPI++, its standard error by the jackknife over the "
        "people's scenarios so that tuning λ on them is counted; Student t; Holm over the "
        "primary family) combine the two. The LLM judge's "
        "bias is measured on the people's scenarios and subtracted, so on average it does not "
        "move the estimate; the intervals are approximate (simulated coverage at least 94% from "
        "4 people-scenarios on), and the human cards they are worth are an estimate from the "
        "people's scenarios, rough below 6 of them."
    )
    return PPIView(frame, judge, note)


def _pick_llm_judge(data: Any, per_judge: pl.DataFrame, asked: str | None) -> str:
    """The LLM judge that scored every candidate (the one asked for, or the only such one)."""
    judges = _llm_judges(data.judgments)
    every = set(data.candidates["candidate_id"].to_list())
    complete = [
        j
        for j in judges
        if set(per_judge.filter(pl.col("judge_id") == j)["candidate_id"].to_list()) >= every
    ]
    if asked is not None:
        if asked not in judges:
            known = ", ".join(judges) or "none"
            raise PPIRefused(
                f"{asked!r} is not an LLM judge of this experiment (LLM judges: {known})"
            )
        if asked not in complete:
            scored = per_judge.filter(pl.col("judge_id") == asked)["candidate_id"].n_unique()
            raise PPIRefused(
                f"the LLM judge {asked} scored {scored} of {len(every)} tips; PPI needs its score "
                f"on every tip: run `tipbench judge --llm-judge ...` to finish"
            )
        return asked
    if not complete:
        raise PPIRefused("no LLM judge scored every tip")
    if len(complete) > 1:
        raise PPIRefused(
            f"several LLM judges scored every tip ({', '.join(complete)}); pick one with --ppi"
        )
    return complete[0]


def _differences(
    scores: pl.DataFrame, pairs: list[tuple[tuple[str, str], tuple[str, str]]], scenarios: list[str]
) -> np.ndarray:
    """(comparisons, scenarios) judge-aware paired differences; NaN where no judge scored both."""
    means = scores.group_by("judge_id", "model", "prompt_version", "scenario_id").agg(
        pl.col("composite").mean()
    )
    table: dict[tuple[str, str, str, str], float] = {
        (r["judge_id"], r["model"], r["prompt_version"], r["scenario_id"]): r["composite"]
        for r in means.iter_rows(named=True)
    }
    judges = sorted({k[0] for k in table})
    out = np.full((len(pairs), len(scenarios)), np.nan)
    for k, (a, b) in enumerate(pairs):
        for s, scenario in enumerate(scenarios):
            diffs = [
                table[(j, *a, scenario)] - table[(j, *b, scenario)]
                for j in judges
                if (j, *a, scenario) in table and (j, *b, scenario) in table
            ]
            if diffs:
                out[k, s] = float(np.mean(diffs))
    return out


def _tips_per_scenario(data: Any, pairs: list[tuple[tuple[str, str], tuple[str, str]]]) -> list:
    """Cards one scenario of a comparison costs a person: both cells' tips there (mean)."""
    counts = (
        data.candidates.join(data.cells, on="cell_id")
        .group_by("model", "prompt_version", "scenario_id")
        .len()
    )
    per_cell = counts.group_by("model", "prompt_version").agg(pl.col("len").mean())
    tips = {(r["model"], r["prompt_version"]): r["len"] for r in per_cell.iter_rows(named=True)}
    return [float(tips.get(a, 0) + tips.get(b, 0)) for a, b in pairs]


def ppi_sentences(view: PPIView) -> tuple[str, ...]:
    """One sentence per comparison: both verdicts and what the LLM judge saved."""
    lines = []
    for r in view.rows.iter_rows(named=True):
        a = cell_label(r["a_model"], r["a_prompt"])
        b = cell_label(r["b_model"], r["b_prompt"])
        lines.append(
            f"{a} − {b}: people alone {r['diff_people']:+.2f} [{r['lo_people']:+.2f}, "
            f"{r['hi_people']:+.2f}] ({r['verdict_people']}); with the LLM judge "
            f"{r['diff_ppi']:+.2f} [{r['lo_ppi']:+.2f}, {r['hi_ppi']:+.2f}] ({r['verdict_ppi']}),"
            f" worth {r['effective_human_cards']:.0f} human cards "
            f"({r['effective_human_scenarios']:.1f} scenarios) from "
            f"{r['n_human_scenarios']} judged."
        )
    return tuple(lines)


# -- calibration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Per LLM judge and dimension against people, and every judge's verbosity slope."""

    llm: pl.DataFrame
    slopes: pl.DataFrame
    note: str


TRUSTED_ALPHA = 0.667
"""Krippendorff's conventional floor for tentative conclusions (as ``stats.judges`` uses)."""


def calibration(data: Any, alpha: float, scale: ScoreScale | None = None) -> Calibration:
    """The LLM judges against people per dimension, and each judge's length slope, with a
    sentence saying on which dimensions an LLM judge agrees with people well enough."""
    llm = stats.llm_calibration(data.judgments, scale)
    slopes = stats.length_slopes(
        data.cells, data.candidates, data.judgments, alpha=alpha, scale=scale
    )
    return Calibration(llm, slopes, calibration_note(llm, data.judgments))


def calibration_note(llm: pl.DataFrame, judgments: pl.DataFrame) -> str:
    """Where each LLM judge reaches the floor, or what is missing for the check: an LLM
    judge, a person, or tips both scored."""
    if llm.height == 0:
        kinds = set(judgments["judge_kind"].to_list()) if judgments.height else set()
        judges = ", ".join(_llm_judges(judgments))
        if "llm" not in kinds:
            return (
                "No LLM judge scored this experiment, so there is no LLM judge to check "
                "against people."
            )
        if not kinds & set(PEOPLE_KINDS):
            return (
                f"No person scored a tip, so the LLM judge ({judges}) cannot be checked "
                "against people here."
            )
        return (
            f"No LLM judge and person scored the same tips, so the LLM judge ({judges}) cannot "
            "be checked against people here."
        )
    parts = []
    for judge in sorted(set(llm["judge_id"].to_list())):
        rows = llm.filter(pl.col("judge_id") == judge)
        trusted = [
            r["dimension"]
            for r in rows.iter_rows(named=True)
            if r["alpha"] is not None and r["alpha"] >= TRUSTED_ALPHA
        ]
        parts.append(
            f"{judge} agrees with people (alpha ≥ {TRUSTED_ALPHA} on the raw scores, its "
            "bias counted as disagreement) on "
            + (", ".join(trusted) if trusted else "no dimension")
        )
    return "; ".join(parts) + "."
