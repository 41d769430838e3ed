"""The verdicts against the shown baseline, grouped by verdict instead of one paragraph each.

Five near-identical paragraphs ("… after Holm across the 14 testable of the 15 primary
comparisons. Judged by …; provisional …") hid the one thing that differs, the verdict and its
difference (issue 22). Here each verdict gets one line naming its cells with their differences
and intervals, and what every row shares (the family, the judges, provisional) is said once.
The rubric's verdicts read a difference of composites (:data:`RUBRIC`), the pairwise ones a win
share (:data:`PAIRWISE`, ``docs/architecture.md`` section 13); both group the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from tipbench_lib.core.cells import cell_label
from tipbench_lib.stats.sentences import family_text

OPENINGS = {
    "better": "{base} beats",
    "worse": "{base} is beaten by",
    "indistinguishable": "Cannot be told apart from {base}",
    "underpowered": "Too few scenarios to decide against {base}",
    "confounded": "Scored by different judges than {base} (no comparison)",
}


def _missing(value: Any) -> bool:
    return value is None or value != value  # NaN != NaN


@dataclass(frozen=True)
class Measure:
    """What a comparison row measures: its columns, how the other side reads it, its words."""

    mean: str
    lo: str
    hi: str
    mirror: Callable[[float], float]
    """The same number seen from the other cell (a difference negated, a share from 1)."""
    shown: Callable[[float], str]
    explain: str
    """What the brackets hold ({label}: the baseline, {level}: the interval's level)."""
    test: str
    """The test whose Holm-adjusted p decides, as the shared line names it."""

    def text(self, value: Any) -> str:
        return "n/a" if _missing(value) else self.shown(value)


RUBRIC = Measure(
    "diff_mean",
    "diff_lo",
    "diff_hi",
    lambda v: -v,
    lambda v: f"{v:+.1f}",
    "{label} minus the cell, with its {level} interval, in composite points",
    "Signed-rank p",
)
PAIRWISE = Measure(
    "share_mean",
    "share_lo",
    "share_hi",
    lambda v: 1 - v,
    lambda v: f"{100 * v:.0f}%",
    "the share of pair judgments {label} won against the cell (a tie counts half), with its "
    "{level} interval over scenarios",
    "Paired test over scenarios, p",
)


def _oriented(
    row: Mapping[str, Any], base: tuple[str, str], measure: Measure
) -> tuple[str, str, Any, Any, Any]:
    """(other cell, verdict from the baseline's side, its measure, lo, hi from that side)."""
    a = (row["a_model"], row["a_prompt"])
    verdict = row["verdict"]
    mean, lo, hi = row[measure.mean], row[measure.lo], row[measure.hi]
    if a == tuple(base):
        return cell_label(row["b_model"], row["b_prompt"]), verdict, mean, lo, hi
    flipped = {"better": "worse", "worse": "better"}.get(verdict, verdict)

    def mirror(value: Any) -> Any:
        return value if _missing(value) else measure.mirror(value)

    return cell_label(*a), flipped, mirror(mean), mirror(hi), mirror(lo)


def grouped_verdicts(
    against: pl.DataFrame, base: tuple[str, str], level: str, measure: Measure = RUBRIC
) -> tuple[str, ...]:
    """One line per verdict, then one line with what every comparison shares."""
    if against.height == 0:
        return ()
    groups: dict[str, list[str]] = {}
    for row in against.iter_rows(named=True):
        other, verdict, mean, lo, hi = _oriented(row, base, measure)
        groups.setdefault(verdict, []).append(
            f"{other} ({measure.text(mean)} [{measure.text(lo)}, {measure.text(hi)}])"
        )
    label = cell_label(*base)
    lines = [
        f"{OPENINGS.get(v, v + ' against {base}').format(base=label)}: {', '.join(cells)}."
        for v in OPENINGS
        if (cells := groups.get(v))
    ]
    first = against.row(0, named=True)
    explain = measure.explain.format(label=label, level=level)
    shared = (
        f"In brackets: {explain}. {measure.test} after {family_text(first)}; judged by "
        f"{first.get('judges') or 'n/a'}"
    )
    if against["provisional"].any():
        shared += "; provisional, resting on a weak judge"
    return (*lines, shared + ".")
