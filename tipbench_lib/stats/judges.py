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
- a judge whose Krippendorff's alpha is below :data:`AGREEMENT_FLOOR` (0.667, the lowest value
  Krippendorff accepts for tentative conclusions). Alpha is measured on the *composite*, the
  number every verdict compares, at the interval level, between the judge and the mean of its
  reference judges over the tips both scored: the people (other than itself) when people scored
  at least :data:`MIN_SHARED_TIPS` of the same tips, else all other judges. Per dimension a judge
  may disagree in ways that cancel in the composite; the verdicts never see those.
- an LLM judge that no other judge can be checked against is provisional too (agreement
  unknown); a lone person is not: people are the reference the rubric was written for.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tipbench_lib.compare.load import require_columns
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.judgments import latest_judgments
from tipbench_lib.core.provenance import Provenance
from tipbench_lib.core.records import WEAK_JUDGE_PARAMETERS
from tipbench_lib.stats.agreement import PEOPLE_KINDS, krippendorff_alpha
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


def judge_panel(
    judgments: pl.DataFrame,
    provenance: Provenance | Mapping[str, Any] | None = None,
    scale: ScoreScale | None = None,
) -> pl.DataFrame:
    """One row per judge with scores: kind, size, agreement, and whether it is provisional.

    ``provenance`` says what the judgments frame may not (an LLM judge's model and size);
    ``scale`` is the experiment's rubric's (default: the one the judgments name).
    """
    scale = scale or scale_of(judgments)
    require_columns(
        judgments,
        ["candidate_id", "judge_id", "judge_kind", *scale.parts, "composite"],
        "judgments",
    )
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
    people = [j for j, k in kinds.items() if k in PEOPLE_KINDS]
    wide = _composites(scored)
    rows = []
    for judge, n in sorted(zip(counts["judge_id"], counts["n"], strict=True)):
        declared = prov.judges.get(judge)
        model = (declared.model if declared else "") or _column_value(scored, judge, "judge_model")
        size = _parameter_count(prov, judge, str(model or ""), scored)
        small = bool(declared and declared.weak) or (
            kinds[judge] == "llm" and size is not None and size < WEAK_JUDGE_PARAMETERS
        )
        reference, alpha, n_tips = _agreement(wide, judge, people)
        rows.append(
            {
                "judge_id": judge,
                "kind": kinds[judge],
                "n_judgments": n,
                "model": str(model or ""),
                "parameter_count": size,
                "small_model": small,
                "reference": reference,
                "alpha": alpha,
                "n_alpha_tips": n_tips,
            }
            | _provisional(kinds[judge], small, reference, alpha)
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


def _composites(scored: pl.DataFrame) -> pl.DataFrame:
    """candidate_id x judge_id composites (null where a judge did not score the candidate)."""
    if scored.height == 0:
        return pl.DataFrame({"candidate_id": []}, schema={"candidate_id": pl.String})
    return scored.select("candidate_id", "judge_id", pl.col("composite").cast(pl.Float64)).pivot(
        on="judge_id", index="candidate_id", values="composite"
    )


def _agreement(
    wide: pl.DataFrame, judge: str, people: Sequence[str]
) -> tuple[str | None, float | None, int]:
    """(reference, alpha, shared tips): the judge against people, else against the others."""
    others = [c for c in wide.columns if c not in ("candidate_id", judge)]
    candidates = [("people", [p for p in people if p != judge]), ("other judges", others)]
    for name, reference in candidates:
        if not reference:
            continue
        mine = wide[judge].to_numpy().astype(float)
        theirs = wide.select(reference).to_numpy().astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # tips no reference judge scored
            consensus = np.nanmean(theirs, axis=1)
        both = ~np.isnan(mine) & ~np.isnan(consensus)
        if both.sum() < MIN_SHARED_TIPS:
            continue
        alpha = krippendorff_alpha(np.vstack([mine[both], consensus[both]]), "interval")
        label = f"{name} ({', '.join(reference)})"
        return label, (None if math.isnan(alpha) else alpha), int(both.sum())
    return None, None, 0


def _provisional(
    kind: str, small: bool, reference: str | None, alpha: float | None
) -> dict[str, object]:
    reasons = []
    if small:
        reasons.append("an LLM under 1B parameters")
    if alpha is not None and alpha < AGREEMENT_FLOOR:
        reasons.append(
            f"Krippendorff's alpha {alpha:.2f} against {reference}, below {AGREEMENT_FLOOR}"
        )
    if reference is None and kind not in PEOPLE_KINDS:
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
