"""Whose pairwise judgments the pairwise views rest on, and which of them make a verdict
provisional (``docs/architecture.md`` sections 8, "Views" and "Provisional", and 13).

Both come from the pair judges' panel (:func:`tipbench_lib.stats.pairwise.pair_judge_panel`:
the rubric's rule on the answers to the same tip pairs, with the pairs' agreement floor) through
the rubric's view rule (:func:`tipbench_lib.stats.judges.choose_view`): people when any person
judged pairs, else the LLM judge with the most pair judgments. The view chosen for the page
carries over when the pairs have it (``all``, or an LLM judge that judged pairs too), so the
notebook's judge-view control moves both modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tipbench_lib.stats.judges import View, available_views, choose_view
from tipbench_lib.stats.pairwise import pair_judge_panel


@dataclass(frozen=True)
class PairJudges:
    """The judges of the pairwise views, and why some of them make verdicts provisional."""

    view: View
    panel: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Every pair judge: kind, judgments, who it was checked against, its agreement on the same
    tip pairs, provisional and why (``stats.pairwise.pair_judge_panel``)."""

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def judges(self) -> tuple[str, ...]:
        return self.view.judges

    @property
    def provisional_judges(self) -> tuple[str, ...]:
        return self.view.provisional_judges

    @property
    def reasons(self) -> dict[str, str]:
        """Provisional judge of the view → why."""
        weak = self.panel.filter(pl.col("judge_id").is_in(list(self.provisional_judges)))
        return dict(zip(weak["judge_id"], weak["reason"], strict=True))

    @property
    def note(self) -> str:
        """Which judges the pairwise numbers rest on, and why verdicts are provisional."""
        text = f"Pairwise strengths and verdicts rest on the pair judgments of {self.view.label}."
        if self.reasons:
            why = "; ".join(f"{j}: {r}" for j, r in sorted(self.reasons.items()))
            text += f" Provisional, because of weak judges ({why})."
        return text


def pair_judges(
    pairs: pl.DataFrame, rubric_view: View | None, provenance: Mapping[str, Any]
) -> PairJudges | None:
    """The pairwise view of these pairs (None: no pair judgment counts)."""
    panel = pair_judge_panel(pairs, provenance)
    if panel.height == 0:
        return None
    wanted = rubric_view.name if rubric_view is not None else None
    if wanted not in available_views(panel):
        wanted = None  # the pairs' own default
    return PairJudges(choose_view(panel, wanted), panel)
