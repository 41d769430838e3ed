"""Plain-language sentences for comparison rows, honest about what the data cannot say.

Every sentence names the family its Holm correction ran over and that family's size, the judges
the comparison rests on, and "provisional" when one of them is weak; the interval's level comes
from alpha. An interval with no spread is said in words ("all 6 scenarios differ by exactly
1.0"), never printed as "1.0–1.0".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tipbench_lib.core.cells import cell_label
from tipbench_lib.stats.power import smallest_testable_n


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "unbounded" if value > 0 else "-unbounded"
    return f"{value:.1f}"


def percent(level: float) -> str:
    """0.95 -> '95%', 0.975 -> '97.5%': the level as people write it."""
    return f"{100 * level:.1f}".rstrip("0").rstrip(".") + "%"


def interval_text(
    lo: float | None, hi: float | None, level: float, note: str = "", n: int = 0, diff=None
) -> str:
    """'95% CI 0.8–3.4', '95% CI -0.8 to 1.4', or the words for an interval without spread."""
    if "no spread" in note and diff is not None:
        return f"all {n} scenarios differ by exactly {number(diff)}"
    joiner = " to " if (lo is not None and lo < 0) or (hi is not None and hi < 0) else "–"
    extra = [part for part in ("few scenarios", "percentile fallback") if part in note]
    tail = f", {', '.join(extra)}" if extra else ""
    return f"{percent(level)} CI {number(lo)}{joiner}{number(hi)}{tail}"


def p_text(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def scenarios(n: int) -> str:
    return f"{n} scenario" if n == 1 else f"{n} scenarios"


def family_text(row: Mapping[str, Any]) -> str:
    """'Holm across the 15 primary comparisons' (with 'testable' when some could not enter)."""
    family = row.get("family") or "primary"
    size = int(row.get("family_size") or 0)
    tested = int(row.get("family_tested") if row.get("family_tested") is not None else size)
    noun = "comparison" if size == 1 else "comparisons"
    if tested == size:
        return f"Holm across the {'one' if size == 1 else size} {family} {noun}"
    return f"Holm across the {tested} testable of the {size} {family} {noun}"


def judges_text(row: Mapping[str, Any]) -> str:
    judges = row.get("judges") or "no common judge"
    if row.get("provisional"):
        return f"Judged by {judges}; provisional, because it rests on a weak judge."
    return f"Judged by {judges}."


def sentence(row: Mapping[str, Any]) -> str:
    """One sentence for a row of ``compare_pairs`` (a dict: ``frame.row(i, named=True)``)."""
    verdict = row["verdict"]
    body = {
        "better": _better,
        "worse": _worse,
        "indistinguishable": _indistinguishable,
        "underpowered": _underpowered,
        "confounded": _confounded,
    }[verdict](row)
    if verdict == "confounded" or int(row.get("n_shared_scenarios") or 0) == 0:
        return body
    left_out = int(row.get("n_confounded_scenarios") or 0)
    if left_out:
        body += f" {scenarios(left_out).capitalize()} had no judge in common and were left out."
    return f"{body} {judges_text(row)}"


def _names(row: Mapping[str, Any]) -> tuple[str, str]:
    return cell_label(row["a_model"], row["a_prompt"]), cell_label(row["b_model"], row["b_prompt"])


def _level(row: Mapping[str, Any]) -> float:
    return 1 - float(row.get("alpha", 0.05))


def _ci(row: Mapping[str, Any], flip: bool = False) -> str:
    lo, hi, diff = row.get("diff_lo"), row.get("diff_hi"), row.get("diff_mean")
    if flip:
        lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
        diff = None if diff is None else -diff
    note = row.get("interval_note") or ""
    return interval_text(lo, hi, _level(row), note, int(row["n_scenarios"]), diff)


def _better(row: Mapping[str, Any]) -> str:
    return _ahead(row, "beats", flip=False)


def _worse(row: Mapping[str, Any]) -> str:
    return _ahead(row, "trails", flip=True)


def _ahead(row: Mapping[str, Any], verb: str, flip: bool) -> str:
    """A decided difference, said as a positive gap in A's direction (``flip``: A is behind)."""
    a, b = _names(row)
    diff = row.get("diff_mean")
    gap = None if diff is None else (-diff if flip else diff)
    over = scenarios(int(row["n_scenarios"]))
    return f"{a} {verb} {b} by {number(gap)} points ({_ci(row, flip)}) over {over} ({_test(row)})."


def _test(row: Mapping[str, Any]) -> str:
    """The test behind a verdict, as the sentences say it."""
    return f"signed-rank p {p_text(row.get('p_holm'))} after {family_text(row)}"


def _indistinguishable(row: Mapping[str, Any]) -> str:
    a, b = _names(row)
    mdd = row.get("mdd")
    reach = ""
    if mdd is not None and math.isfinite(mdd):
        reach = (
            f"; with these scenarios a difference of about {number(mdd)} points would be "
            f"detected 80% of the time"
        )
    return (
        f"{a} and {b} cannot be told apart over {scenarios(int(row['n_scenarios']))}: "
        f"difference {number(row.get('diff_mean'))} points ({_ci(row)}), {_test(row)}{reach}."
    )


def _underpowered(row: Mapping[str, Any]) -> str:
    a, b = _names(row)
    n = int(row["n_scenarios"])
    if int(row.get("n_shared_scenarios", n) or 0) == 0:
        return f"{a} and {b} share no scenarios, so they cannot be compared."
    alpha = float(row.get("alpha", 0.05))
    floor = float(row.get("min_p_attainable") or 1.0)
    threshold = row.get("holm_threshold")
    stopped = threshold is not None and not math.isnan(threshold)
    if floor <= alpha and (not stopped or floor <= threshold):
        return _out_of_reach_of_the_interval(row, a, b, n)
    size = max(1, int(row.get("family_size") or 1))
    family = row.get("family") or "primary"
    if floor > alpha or not stopped:
        bar = (
            f"above α = {alpha:g}, so it could not enter the Holm correction of the {size} "
            f"{family} {'comparison' if size == 1 else 'comparisons'}"
        )
    else:
        bar = f"above the {threshold:.2g} it would have to beat ({family_text(row)})"
    first_possible = smallest_testable_n(alpha / size)
    more = (
        f" At least {first_possible} scenarios are needed before any pair of this family can pass."
        if first_possible > n
        else " Zero or tied differences raise that floor."
    )
    return (
        f"{a} against {b} is undecided whatever the scores: with {scenarios(n)} the smallest "
        f"p its signed-rank test can reach is {floor:.3g}, {bar}; observed difference "
        f"{number(row.get('diff_mean'))} points ({_ci(row)}).{more}"
        f"{_needed(row, n, first_possible)}"
    )


def _out_of_reach_of_the_interval(row: Mapping[str, Any], a: str, b: str, n: int) -> str:
    """Underpowered because the interval cannot exclude 0, whatever the signs (issue 18)."""
    level = percent(_level(row))
    return (
        f"{a} against {b} is undecided whatever the scores: even if every scenario favoured the "
        f"same cell, the {level} interval of the difference would still include 0 (its near end "
        f"at {number(row.get('interval_reach'))}), because the differences vary too much for "
        f"{scenarios(n)}; observed difference "
        f"{number(row.get('diff_mean'))} points ({_ci(row)}).{_needed(row, n, n)}"
    )


def _needed(row: Mapping[str, Any], n: int, first_possible: int) -> str:
    needed = row.get("scenarios_needed")
    if needed is not None and int(needed) > max(n, first_possible):
        return (
            f" About {int(needed)} scenarios would detect the observed difference 80% of the time."
        )
    return ""


def _confounded(row: Mapping[str, Any]) -> str:
    a, b = _names(row)
    shared = int(row.get("n_shared_scenarios") or 0)
    return (
        f"{a} and {b} cannot be compared: no judge scored both in any of their "
        f"{scenarios(shared)} in common, so the judge sets differ and a lenient judge could not "
        f"be told from a better cell."
    )
