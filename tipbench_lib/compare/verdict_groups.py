"""The verdicts against the shown baseline, grouped by verdict instead of one paragraph each.

Five near-identical paragraphs ("… after Holm across the 14 testable of the 15 primary
comparisons. Judged by …; provisional …") hid the one thing that differs, the verdict and its
difference (issue 22). Here each verdict gets one line naming its cells with their differences
and intervals, and what every row shares (the family, the judges, provisional) is said once.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def _oriented(
    row: Mapping[str, Any], base: tuple[str, str]
) -> tuple[str, str, float, float, float]:
    """(other cell, verdict from the baseline's side, base − other mean, lo, hi)."""
    a = (row["a_model"], row["a_prompt"])
    verdict = row["verdict"]
    diff, lo, hi = row["diff_mean"], row["diff_lo"], row["diff_hi"]
    if a == tuple(base):
        return cell_label(row["b_model"], row["b_prompt"]), verdict, diff, lo, hi
    flipped = {"better": "worse", "worse": "better"}.get(verdict, verdict)
    other = cell_label(*a)
    return (
        other,
        flipped,
        -diff if diff is not None else diff,
        -hi if hi is not None else hi,
        (-lo if lo is not None else lo),
    )


def _num(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:+.1f}"


def grouped_verdicts(against: pl.DataFrame, base: tuple[str, str], level: str) -> tuple[str, ...]:
    """One line per verdict, then one line with what every comparison shares."""
    if against.height == 0:
        return ()
    groups: dict[str, list[str]] = {}
    for row in against.iter_rows(named=True):
        other, verdict, diff, lo, hi = _oriented(row, base)
        groups.setdefault(verdict, []).append(f"{other} ({_num(diff)} [{_num(lo)}, {_num(hi)}])")
    label = cell_label(*base)
    lines = [
        f"{OPENINGS.get(v, v + ' against {base}').format(base=label)}: {', '.join(cells)}."
        for v in OPENINGS
        if (cells := groups.get(v))
    ]
    first = against.row(0, named=True)
    shared = (
        f"In brackets: {label} minus the cell, with its {level} interval, in composite points. "
        f"Signed-rank p after {family_text(first)}; judged by {first.get('judges') or 'n/a'}"
    )
    if against["provisional"].any():
        shared += "; provisional, resting on a weak judge"
    return (*lines, shared + ".")
