"""Who the verdicts rest on: views of the judges, and which judges make a verdict provisional.

**Views.** Scores from different kinds of judges are not mixed unless asked for:

- ``people`` (judge kinds ``human`` and ``import``) is the default whenever any person judged;
- each LLM judge is its own view, named by its judge id (``llm:claude-assistant``);
- ``all`` mixes everyone, only when asked for.

With no people the default is the LLM judge with the most judgments; ties go to the larger model
(a judge whose size tipbench did not measure and that is not flagged small counts as larger than
any measured one: it is an outside model such as a hosted assistant).

**Provisional.** A verdict is provisional when it rests on a weak judge:

- an LLM judge under one billion parameters (its source says so,
  :attr:`tipbench_lib.core.records.JudgeSource.is_weak`, recorded as ``weak`` in the
  provenance), or
- a judge whose agreement is below :data:`AGREEMENT_FLOOR` (0.667, the lowest Krippendorff's
  alpha Krippendorff accepts for tentative conclusions). Agreement is what the paired verdicts
  need: interval alpha on the *composite* (the number every verdict compares) after each judge's
  mean per scenario is taken away (:func:`tipbench_lib.stats.agreement.within_scenario_alpha`),
  so a judge's constant leniency, which the paired comparison cancels, is not counted as
  disagreement (docs/architecture.md section 8, "Provisional"; ``bench/judge_consistency.py``
  chose it by simulation). Per dimension a judge may disagree in ways that cancel in the
  composite; the verdicts never see those.
- **People** are checked against each other only: a person's agreement is the best one with
  any other person over at least :data:`MIN_SHARED_TIPS` tips both scored, so one random or
  noisy person does not drag down everyone else, and two people who disagree are both flagged
  (nobody can tell which is right). A lone person is never provisional: people are the reference
  the rubric was written for, and an LLM judge's disagreement says nothing about the person.
- **An LLM judge** is checked against the mean of the people who passed (all people when none
  did) over the tips they scored, else, with no person on enough of its tips, against the
  other judge it agrees with best; an LLM judge that nobody can be checked against is
  provisional too (agreement unknown).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.judgments import latest_judgments
from tipbench_lib.core.provenance import Provenance
from tipbench_lib.core.records import WEAK_JUDGE_PARAMETERS
from tipbench_lib.core.schema import PEOPLE_KINDS, require_columns
from tipbench_lib.stats.agreement import within_scenario_alpha
from tipbench_lib.stats.scale import ScoreScale, scale_of

AGREEMENT_FLOOR = 0.667
MIN_SHARED_TIPS = 10
PANEL_SCHEMA = {
    "judge_id": pl.String,
    "kind": pl.String,
    "n_judgments": pl.Int64,
    "model": pl.String,
    "parameter_count": pl.Int64,
    "small_model": pl.Boolean,
    "reference": pl.String,
    "alpha": pl.Float64,
    "n_alpha_tips": pl.Int64,
    "provisional": pl.Boolean,
    "reason": pl.String,
}


@dataclass(frozen=True)
class View:
    """A set of judges whose scores the leaderboard and the verdicts use."""

    name: str
    """``people``, ``all``, or an LLM judge's id."""
    judges: tuple[str, ...]
    provisional_judges: tuple[str, ...]
    is_default: bool

    @property
    def label(self) -> str:
        """How the view is named in a sentence: its judges, spelled out."""
        names = ", ".join(self.judges) if self.judges else "no judge"
        if self.name == "people":
            return f"people ({names})"
        if self.name == "all":
            return f"all judges mixed ({names})"
        return self.name

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_judges)


def tip_scenarios(cells: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """candidate_id -> scenario_id, what :func:`judge_panel` needs to compare judges within
    scenarios."""
    require_columns(cells, ["cell_id", "scenario_id"], "cells")
    require_columns(candidates, ["candidate_id", "cell_id"], "candidates")
    return (
        candidates.select("candidate_id", "cell_id")
        .join(cells.select("cell_id", "scenario_id"), on="cell_id")
        .select("candidate_id", "scenario_id")
        .unique("candidate_id")
    )


def judge_panel(
    judgments: pl.DataFrame,
    provenance: Provenance | Mapping[str, Any] | None = None,
    scale: ScoreScale | None = None,
    *,
    scenarios: pl.DataFrame,
) -> pl.DataFrame:
    """One row per judge with scores: kind, size, agreement, and whether it is provisional.

    ``provenance`` says what the judgments frame may not (an LLM judge's model and size);
    ``scale`` is the experiment's rubric's (default: the one the judgments name);
    ``scenarios`` maps candidate_id to scenario_id (:func:`tip_scenarios`): agreement is
    measured within scenarios, the unit the verdicts pair on.
    """
    scale = scale or scale_of(judgments)
    require_columns(
        judgments,
        ["candidate_id", "judge_id", "judge_kind", *scale.parts, "composite"],
        "judgments",
    )
    require_columns(scenarios, ["candidate_id", "scenario_id"], "scenarios")
    scored = (
        latest_judgments(judgments)
        .filter(scale.scored())
        .with_columns(scale.composite_expr().alias("composite"))
    )
    prov = provenance if isinstance(provenance, Provenance) else Provenance.from_dict(provenance)
    counts = scored.group_by("judge_id").agg(
        pl.col("judge_kind").first().alias("kind"), pl.len().cast(pl.Int64).alias("n")
    )
    kinds = dict(zip(counts["judge_id"], counts["kind"], strict=True))
    agreement = agreements(_composites(scored, scenarios), kinds)
    return panel_frame(counts, agreement, prov, scored)


def panel_frame(
    counts: pl.DataFrame,
    agreement: Mapping[str, JudgeAgreement],
    prov: Provenance,
    judged: pl.DataFrame,
    floor: float = AGREEMENT_FLOOR,
    measure: str = "within scenarios",
) -> pl.DataFrame:
    """The panel's rows from each judge's count and agreement, for scores and pairs alike: the
    judge's model and size (declared, else read from ``judged``), whether it is small, and
    whether it is provisional by ``floor``."""
    rows = []
    for judge, kind, n in sorted(zip(counts["judge_id"], counts["kind"], counts["n"], strict=True)):
        declared = prov.judges.get(judge)
        model = (declared.model if declared else "") or _column_value(judged, judge, "judge_model")
        size = _parameter_count(prov, judge, str(model or ""), judged)
        small = bool(declared and declared.weak) or (
            kind == "llm" and size is not None and size < WEAK_JUDGE_PARAMETERS
        )
        found = agreement[judge]
        rows.append(
            {
                "judge_id": judge,
                "kind": kind,
                "n_judgments": n,
                "model": str(model or ""),
                "parameter_count": size,
                "small_model": small,
                "reference": found.reference,
                "alpha": found.alpha,
                "n_alpha_tips": found.n_tips,
            }
            | _provisional(kind, small, found, floor, measure)
        )
    return pl.DataFrame(rows, schema=PANEL_SCHEMA)


def _column_value(scored: pl.DataFrame, judge: str, column: str) -> Any:
    if column not in scored.columns:
        return None
    values = scored.filter(pl.col("judge_id") == judge)[column].drop_nulls()
    return values[0] if values.len() else None


def _parameter_count(prov: Provenance, judge: str, model: str, scored: pl.DataFrame) -> int | None:
    """The judge's size: declared with the judge, in the judgments frame, or that of the
    collected model of that name."""
    declared = prov.judges.get(judge)
    if declared is not None and declared.parameter_count is not None:
        return declared.parameter_count
    in_rows = _column_value(scored, judge, "parameter_count")
    if in_rows not in (None, ""):
        return int(in_rows)
    return prov.model_size(model)


@dataclass(frozen=True)
class TipScores:
    """Per tip (rows): its scenario code and every judge's composite (NaN: not scored).

    The pairwise judges' panel (:mod:`.pair_judges`) fills it with answers (A 1, tie 1/2, B 0)
    per tip pair, all in one scenario, to apply the same agreement rule."""

    scenario: np.ndarray
    scores: dict[str, np.ndarray]


def _composites(scored: pl.DataFrame, scenarios: pl.DataFrame) -> TipScores:
    """Every judge's composites of the tips whose scenario is known."""
    if scored.height == 0:
        return TipScores(np.empty(0, dtype=np.int64), {})
    wide = (
        scored.select("candidate_id", "judge_id", pl.col("composite").cast(pl.Float64))
        .pivot(on="judge_id", index="candidate_id", values="composite")
        .join(scenarios.select("candidate_id", "scenario_id"), on="candidate_id")
    )
    judges = [c for c in wide.columns if c not in ("candidate_id", "scenario_id")]
    codes = wide["scenario_id"].cast(pl.String).rank("dense").to_numpy().astype(np.int64)
    return TipScores(
        codes, {j: wide[j].cast(pl.Float64).fill_null(np.nan).to_numpy() for j in judges}
    )


@dataclass(frozen=True)
class JudgeAgreement:
    reference: str | None = None
    alpha: float | None = None
    n_tips: int = 0


def agreements(
    tips: TipScores, kinds: Mapping[str, str], floor: float = AGREEMENT_FLOOR
) -> dict[str, JudgeAgreement]:
    """Each judge's agreement (module docstring): people against the other person who agrees
    best; other judges against the people who passed (``floor``), else the other judge who
    agrees best."""
    people = [j for j in tips.scores if kinds.get(j) in PEOPLE_KINDS]
    found = {j: _best_of(tips, j, [p for p in people if p != j]) for j in people}
    passed = [p for p in people if not _below_floor(found[p].alpha, floor)] or people
    for judge in tips.scores:
        if judge in found:
            continue
        against_people = _against_mean(tips, judge, passed)
        others = [j for j in tips.scores if j != judge]
        found[judge] = against_people if against_people.reference else _best_of(tips, judge, others)
    return {j: found.get(j, JudgeAgreement()) for j in kinds}


def _best_of(tips: TipScores, judge: str, others: Sequence[str]) -> JudgeAgreement:
    """Agreement with the one of ``others`` who agrees best, over enough shared tips."""
    best = JudgeAgreement()
    for other in others:
        alpha, n = within_scenario_alpha(tips.scores[judge], tips.scores[other], tips.scenario)
        if n < MIN_SHARED_TIPS or math.isnan(alpha):
            continue
        if best.alpha is None or alpha > best.alpha:
            label = other if len(others) == 1 else f"{other} (best of {', '.join(others)})"
            best = JudgeAgreement(label, alpha, n)
    return best


def _against_mean(tips: TipScores, judge: str, people: Sequence[str]) -> JudgeAgreement:
    """Agreement with the mean of ``people`` per tip (over those who scored it)."""
    if not people:
        return JudgeAgreement()
    theirs = np.vstack([tips.scores[p] for p in people])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tips none of them scored
        consensus = np.nanmean(theirs, axis=0)
    alpha, n = within_scenario_alpha(tips.scores[judge], consensus, tips.scenario)
    if n < MIN_SHARED_TIPS or math.isnan(alpha):
        return JudgeAgreement()
    return JudgeAgreement(f"people ({', '.join(people)})", alpha, n)


def _below_floor(alpha: float | None, floor: float = AGREEMENT_FLOOR) -> bool:
    return alpha is not None and alpha < floor


def _provisional(
    kind: str,
    small: bool,
    found: JudgeAgreement,
    floor: float = AGREEMENT_FLOOR,
    measure: str = "within scenarios",
) -> dict[str, object]:
    reasons = []
    if small:
        reasons.append("an LLM under 1B parameters")
    if _below_floor(found.alpha, floor):
        reasons.append(
            f"Krippendorff's alpha {found.alpha:.2f} {measure} against {found.reference}, "
            f"below {floor}"
        )
    if found.reference is None and kind not in PEOPLE_KINDS:
        reasons.append("no other judge scored the same tips, so its agreement is unknown")
    return {"provisional": bool(reasons), "reason": "; ".join(reasons)}


# ---------------------------------------------------------------- views


def available_views(panel: pl.DataFrame) -> list[str]:
    """Names accepted by :func:`choose_view`: people (if any), each LLM judge, all."""
    names = []
    if panel.filter(pl.col("kind").is_in(PEOPLE_KINDS)).height:
        names.append("people")
    names += panel.filter(pl.col("kind") == "llm")["judge_id"].to_list()
    return [*names, "all"]


def default_view_name(panel: pl.DataFrame) -> str:
    """People when any person judged; else the busiest LLM judge (ties: the larger model)."""
    if panel.filter(pl.col("kind").is_in(PEOPLE_KINDS)).height:
        return "people"
    llm = panel.filter(pl.col("kind") == "llm")
    if llm.height == 0:
        return "all"
    size = pl.col("parameter_count").cast(pl.Float64)
    size = pl.when(size.is_not_null()).then(size).when(~pl.col("small_model")).then(math.inf)
    ranked = llm.with_columns(size.otherwise(0.0).alias("_size")).sort(
        ["n_judgments", "_size", "judge_id"], descending=[True, True, False]
    )
    return ranked["judge_id"][0]


def choose_view(panel: pl.DataFrame, name: str | None = None) -> View:
    """The named view (or the default), with the judges whose verdicts would be provisional."""
    default = default_view_name(panel)
    chosen = default if name in (None, "") else name
    known = available_views(panel)
    if chosen not in known:
        raise TipbenchError(
            f"no judge view {chosen!r} in this data; choose one of: {', '.join(known)} "
            "(people = human and imported judges; an LLM judge by its judge id; all = mixed)"
        )
    if chosen == "people":
        members = panel.filter(pl.col("kind").is_in(PEOPLE_KINDS))
    elif chosen == "all":
        members = panel
    else:
        members = panel.filter(pl.col("judge_id") == chosen)
    weak = members.filter(pl.col("provisional"))["judge_id"].to_list()
    return View(
        name=chosen,
        judges=tuple(members["judge_id"].to_list()),
        provisional_judges=tuple(weak),
        is_default=chosen == default,
    )
