"""Whose pairwise judgments the pairwise views rest on, and which of them make a verdict
provisional (``docs/architecture.md`` sections 8, "Views" and "Provisional", and 13).

The rule is the rubric's, read on the pairs: people (human and import judges) when any person
judged pairs, else the LLM judge with the most pair judgments; the rubric view chosen for the
page carries over when the pairs have judges of it (an LLM judge's view shows that judge's pairs,
``all`` every judge's). A judge is provisional when the rubric would call it so: an LLM judge
under one billion parameters, a judge the rubric panel flags (its scores' agreement below the
floor), or an LLM judge no person can be checked against, here because no person judged any of
the pairs it judged. A person is never provisional for the pairs alone (a lone person is the
reference, as for scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from tipbench_lib.core.provenance import Provenance
from tipbench_lib.core.records import WEAK_JUDGE_PARAMETERS
from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.stats.judges import View


@dataclass(frozen=True)
class PairJudges:
    """The judges of the pairwise views, and why some of them make verdicts provisional."""

    name: str
    """``people``, ``all`` or an LLM judge's id, as the rubric's views are named."""
    judges: tuple[str, ...]
    reasons: Mapping[str, str]
    """Provisional judge → why (empty: no verdict is provisional)."""

    @property
    def provisional_judges(self) -> tuple[str, ...]:
        return tuple(sorted(self.reasons))

    @property
    def label(self) -> str:
        names = ", ".join(self.judges)
        return {"people": f"people ({names})", "all": f"all judges mixed ({names})"}.get(
            self.name, self.name
        )

    @property
    def note(self) -> str:
        """Which judges the pairwise numbers rest on, and why verdicts are provisional."""
        text = f"Pairwise strengths and verdicts rest on the pair judgments of {self.label}."
        if self.reasons:
            why = "; ".join(f"{j}: {r}" for j, r in sorted(self.reasons.items()))
            text += f" Provisional, because of weak judges ({why})."
        return text


def pair_judges(
    pairs: pl.DataFrame,
    rubric_view: View | None,
    panel: pl.DataFrame,
    provenance: Mapping[str, Any],
) -> PairJudges | None:
    """The pairwise view for these pairs (None: no pair judgment counts)."""
    counted = pairs.filter(pl.col("answer").is_in(["a", "b", "tie"]))
    if counted.height == 0:
        return None
    kinds = dict(counted.group_by("judge_id").agg(pl.col("judge_kind").first()).iter_rows())
    sizes = counted.group_by("judge_id").len()
    people = sorted(j for j, k in kinds.items() if k in PEOPLE_KINDS)
    name = _view_name(rubric_view, kinds, people, sizes)
    if name == "people":
        judges = tuple(people)
    elif name == "all":
        judges = tuple(sorted(kinds))
    else:
        judges = (name,)
    reasons = {
        judge: reason
        for judge in judges
        if (reason := _weakness(judge, kinds[judge], counted, panel, provenance))
    }
    return PairJudges(name, judges, reasons)


def _view_name(
    rubric_view: View | None, kinds: Mapping[str, str], people: list[str], sizes: pl.DataFrame
) -> str:
    """The rubric's view when the pairs have judges of it; else people, else the busiest LLM."""
    if rubric_view is not None:
        if rubric_view.name == "all" or (rubric_view.name == "people" and people):
            return rubric_view.name
        if rubric_view.name in kinds:
            return rubric_view.name
    if people:
        return "people"
    busiest = sizes.sort(["len", "judge_id"], descending=[True, False])
    return str(busiest["judge_id"][0])


def _weakness(
    judge: str,
    kind: str,
    pairs: pl.DataFrame,
    panel: pl.DataFrame,
    provenance: Mapping[str, Any],
) -> str:
    """Why a pair judge's verdicts are provisional ('' when they are not)."""
    if kind in PEOPLE_KINDS:
        scored = panel.filter(pl.col("judge_id") == judge)
        return str(scored["reason"][0]) if scored.height and scored["provisional"][0] else ""
    reasons = []
    scored = panel.filter(pl.col("judge_id") == judge)
    if scored.height and scored["provisional"][0]:
        reasons.append(str(scored["reason"][0]))
    elif _small(judge, pairs, provenance):
        reasons.append("an LLM under 1B parameters")
    own = pairs.filter(pl.col("judge_id") == judge)["pair_id"]
    checked = pairs.filter(
        pl.col("judge_kind").is_in(PEOPLE_KINDS) & pl.col("pair_id").is_in(own.implode())
    )
    if checked.height == 0:
        reasons.append("no person judged the same pairs, so its agreement is unknown")
    return "; ".join(r for r in reasons if r)


def _small(judge: str, pairs: pl.DataFrame, provenance: Mapping[str, Any]) -> bool:
    """An LLM judge under 1B parameters, as its provenance or its model's size says."""
    prov = Provenance.from_dict(provenance)
    declared = prov.judges.get(judge)
    if declared is not None and (declared.weak or declared.parameter_count is not None):
        return declared.weak or declared.parameter_count < WEAK_JUDGE_PARAMETERS
    models = pairs.filter(pl.col("judge_id") == judge)["judge_model"].drop_nulls().unique()
    sizes = [prov.model_size(str(m)) for m in models]
    return any(s is not None and s < WEAK_JUDGE_PARAMETERS for s in sizes)
