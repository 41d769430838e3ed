"""Plain-language sentences for comparison rows, honest about what the data cannot say."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tipbench_lib.stats.power import smallest_testable_n


def _cell(model: str, prompt: str) -> str:
    return f"{prompt} on {model}"


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "unbounded" if value > 0 else "-unbounded"
    return f"{value:.1f}"


def _ci(lo: float | None, hi: float | None, level: float) -> str:
    """'95% CI 0.8–3.4', or '95% CI -0.8 to 1.4' when a dash would read as a minus sign."""
    joiner = " to " if (lo is not None and lo < 0) or (hi is not None and hi < 0) else "–"
    return f"{level:.0%} CI {_num(lo)}{joiner}{_num(hi)}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def _plural(n: int) -> str:
    return f"{n} scenario" if n == 1 else f"{n} scenarios"


def sentence(row: Mapping[str, Any]) -> str:
    """One sentence for a row of ``compare_pairs`` (a dict: ``frame.row(i, named=True)``)."""
    a = _cell(row["a_model"], row["a_prompt"])
    b = _cell(row["b_model"], row["b_prompt"])
    n = int(row["n_scenarios"])
    alpha = float(row.get("alpha", 0.05))
    level = 1 - alpha
    diff, lo, hi = row.get("diff_mean"), row.get("diff_lo"), row.get("diff_hi")
    verdict = row["verdict"]
    if verdict == "underpowered":
        if n == 0:
            return f"{a} and {b} share no scenarios, so they cannot be compared."
        return (
            f"With {n} shared {'scenario' if n == 1 else 'scenarios'} no two-sided signed-rank "
            f"test can reach p < {alpha:g} (the smallest attainable p is "
            f"{row['min_p_attainable']:.3g}), so {a} against {b} is undecided whatever the "
            f"scores (observed difference {_num(diff)} points); at least "
            f"{smallest_testable_n(alpha)} shared scenarios are needed."
        )
    if verdict == "better":
        return (
            f"{a} beats {b} by {_num(diff)} points ({_ci(lo, hi, level)}) over {_plural(n)}"
            f" (Holm-adjusted signed-rank p {_p(row.get('p_holm'))})."
        )
    if verdict == "worse":
        flipped_lo = None if hi is None else -hi
        flipped_hi = None if lo is None else -lo
        return (
            f"{a} trails {b} by {_num(None if diff is None else -diff)} points "
            f"({_ci(flipped_lo, flipped_hi, level)}) over {_plural(n)}"
            f" (Holm-adjusted signed-rank p {_p(row.get('p_holm'))})."
        )
    mdd = row.get("mdd")
    reach = (
        f"; with this many scenarios a difference of about {_num(mdd)} points would be "
        f"detected 80% of the time"
        if mdd is not None and math.isfinite(mdd)
        else ""
    )
    return (
        f"{a} and {b} cannot be told apart over {_plural(n)}: difference {_num(diff)} points "
        f"({_ci(lo, hi, level)}), Holm-adjusted signed-rank p {_p(row.get('p_holm'))}{reach}."
    )
