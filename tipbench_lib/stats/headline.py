"""The summary a reader sees first, in one place for the report and the notebook.

The headline names a winner only when the cell with the highest mean beats every other cell in
the primary family; otherwise it names the top group, the cells the comparisons cannot separate
from the highest mean, and how many scenarios would separate the two highest means. It names the
judges behind the verdicts and says "provisional" when they rest on a weak judge. A baseline
the report picks for display (the highest mean) is labelled as chosen after seeing the data; it
is a view of the all-pairs family, whose Holm correction already counts that choice.

The same words serve an experiment judged in pairs only (``pairs=True``, ``docs/architecture.md``
section 13): the leaderboard is then the Bradley–Terry strengths and the comparison rows the
pairwise ones, so "the highest mean" becomes "the highest strength" and the runner-up line gives
the win share between the two strongest cells rather than a difference in points.

Without a verdict no cell is "the best" (issue 18): the order of the means is an estimate, and
the words say "the highest mean". When the cells' means rest on different judges
(``mixed_judges``, :mod:`.judge_mix`), even that order is no verdict and the wording says so; a
winner still needs the comparisons, which pair on shared judges.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tipbench_lib.core.cells import cell_label
from tipbench_lib.stats.judges import View
from tipbench_lib.stats.sentences import number, percent, scenarios

Cell = tuple[str, str]
SHOWN_IN_GROUP = 5


@dataclass(frozen=True)
class Summary:
    """What the top of the report (and of the notebook) says."""

    headline: str
    lines: tuple[str, ...]
    """Evidence under the headline: how far the highest mean is from the next."""
    family_line: str
    """Which comparisons Holm corrected together, at which alpha and interval level."""
    winner: Cell | None
    top_group: tuple[Cell, ...]
    shown_baseline: Cell
    baseline_note: str
    """Why the verdicts are shown against ``shown_baseline``."""


def involving(comparisons: pl.DataFrame, cell: Cell) -> pl.DataFrame:
    """The comparison rows with ``cell`` on either side."""
    model, prompt = cell
    return comparisons.filter(
        ((pl.col("a_model") == model) & (pl.col("a_prompt") == prompt))
        | ((pl.col("b_model") == model) & (pl.col("b_prompt") == prompt))
    )


def pair_row(comparisons: pl.DataFrame, first: Cell, second: Cell) -> dict | None:
    rows = involving(involving(comparisons, first), second)
    return rows.row(0, named=True) if rows.height else None


def beats(row: dict, cell: Cell) -> bool:
    """Whether the row's verdict says ``cell`` is the better one."""
    on_a = (row["a_model"], row["a_prompt"]) == tuple(cell)
    return row["verdict"] == ("better" if on_a else "worse")


STRENGTH = "Bradley–Terry strength"
"""What ranks the cells of a pairs-only experiment, in the headline's words."""


def shown_baseline(
    leaderboard: pl.DataFrame,
    baseline: Cell | None,
    mixed_judges: bool = False,
    measure: str = "mean",
) -> tuple[Cell, str]:
    """The cell the verdict list is read against, and how it was chosen."""
    if baseline is not None:
        return tuple(baseline), "the baseline named before seeing the data"
    top = leaderboard.row(0, named=True)
    highest = (
        f"the cell with the highest {measure} over different judges (no verdict)"
        if mixed_judges
        else f"the cell with the highest {measure}"
    )
    return (top["model"], top["prompt_version"]), (
        f"{highest}, chosen after seeing the data; these rows belong to the all-pairs "
        "family, whose Holm correction already counts that choice"
    )


def summarize(
    leaderboard: pl.DataFrame,
    comparisons: pl.DataFrame,
    *,
    view: View,
    alpha: float,
    baseline: Cell | None = None,
    mixed_judges: bool = False,
    pairs: bool = False,
) -> Summary:
    """Headline and supporting lines for a leaderboard and its comparison rows.

    ``mixed_judges``: the cells' means rest on different judges (:mod:`.judge_mix`), so the
    leaderboard's order is not presented as a finding. ``pairs``: the leaderboard is the
    Bradley–Terry strengths and the rows ``stats.pairwise.compare_pairwise``'s (module
    docstring).
    """
    measure = STRENGTH if pairs else "mean"
    base, base_note = shown_baseline(leaderboard, baseline, mixed_judges, measure)
    cells = [(r["model"], r["prompt_version"]) for r in leaderboard.iter_rows(named=True)]
    judged = _judged(view)
    family = _family_line(comparisons, alpha, baseline)
    if len(cells) == 1:
        return Summary(
            f"Only one cell, {cell_label(*cells[0])}, {judged}: nothing to compare.",
            (),
            "",
            None,
            tuple(cells),
            base,
            base_note,
        )
    top, others = cells[0], cells[1:]
    rows = {other: pair_row(comparisons, top, other) for other in others}
    primary = [r for r in rows.values() if r is not None and r.get("family") == "primary"]
    wins = [r is not None and r.get("family") == "primary" and beats(r, top) for r in rows.values()]
    if all(wins):
        size = primary[0]["family_size"] if primary else 0
        headline = (
            f"Winner: {cell_label(*top)}, better than each of the other {len(others)} cells "
            f"{'in pairs ' if pairs else ''}(Holm across the {comparisons_text(size)}), "
            f"{judged}."
        )
        return Summary(headline, (), family, top, (top,), base, base_note)
    group = [top] + [c for c, r in rows.items() if r is None or not beats(r, top)]
    if len(group) == 1:  # it beats everyone, but not all in the primary family
        headline = (
            f"No winner in the primary family: {cell_label(*top)} beats every other cell, but "
            f"only in exploratory comparisons (the primary family is every cell against the "
            f"baseline {cell_label(*base)}), {judged}."
        )
        return Summary(headline, (), family, None, tuple(group), base, base_note)
    highest = (
        f"has the highest {measure} over different judges (an order that is no verdict)"
        if mixed_judges
        else f"has the highest {measure}"
    )
    # The top cell is named first, and a group of every other cell is said as such, so the
    # headline never hides the cell it is about among "5 cells and 1 more" (issue 22).
    rest = (
        f"any of the other {len(others)} cells"
        if len(group) - 1 == len(others) and len(others) > 1
        else _group(group[1:])
    )
    headline = (
        f"No single winner: {cell_label(*top)} {highest}, but the "
        f"{'pairwise ' if pairs else ''}comparisons cannot separate it from {rest}, {judged}."
    )
    runner = others[0]
    said = _pair_runner_up_line if pairs else _runner_up_line
    lines = (said(top, runner, rows[runner], mixed_judges),)
    return Summary(headline, lines, family, None, tuple(group), base, base_note)


def comparisons_text(size: int, family: str = "primary") -> str:
    """'15 primary comparisons', or 'one primary comparison' (Holm over one is no correction)."""
    return f"one {family} comparison" if size == 1 else f"{size} {family} comparisons"


def _judged(view: View) -> str:
    text = f"judged by {view.label}"
    if view.provisional:
        noun = "judge" if len(view.provisional_judges) == 1 else "judges"
        text += f" (provisional: weak {noun} {', '.join(view.provisional_judges)})"
    return text


def _group(group: list[Cell]) -> str:
    names = [cell_label(*c) for c in group[:SHOWN_IN_GROUP]]
    if len(group) > SHOWN_IN_GROUP:
        more = len(group) - SHOWN_IN_GROUP
        names.append(f"{more} more cell{'' if more == 1 else 's'}")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _runner_up_line(top: Cell, runner: Cell, row: dict | None, mixed: bool = False) -> str:
    """How far the data are from separating the two highest means."""
    first, second = cell_label(*top), cell_label(*runner)
    second = (
        f"the next cell by mean, {second},"
        if mixed
        else f"the cell with the next-highest mean, {second},"
    )
    if row is None:
        return f"{first} and {second} were never compared."
    if row["verdict"] == "confounded":
        return (
            f"{first} and {second} were scored by different judges, so they "
            "cannot be compared; have one judge score both."
        )
    diff = abs(row.get("diff_mean") or 0.0)
    needed = row.get("scenarios_needed")
    if needed is None:
        reason = row.get("power_note") or "no observed difference"
        return (
            f"The observed difference between {first} and {second} is "
            f"{number(diff)} points; no practical number of scenarios would separate them "
            f"({reason})."
        )
    return (
        f"If the observed difference of {number(diff)} points between {first} and "
        f"{second} is real, about {needed} scenarios would separate them "
        f"(80% power at this family's Holm threshold; now {scenarios(int(row['n_scenarios']))})."
    )


def _pair_runner_up_line(top: Cell, runner: Cell, row: dict | None, mixed: bool = False) -> str:
    """How often the strongest cell won against the next strongest, over how many scenarios."""
    first, second = cell_label(*top), cell_label(*runner)
    if row is None:
        return f"{first} and the next-strongest cell, {second}, were never judged in one pair."
    share, lo, hi = row.get("share_mean"), row.get("share_lo"), row.get("share_hi")
    if share is None:
        return f"{first} and the next-strongest cell, {second}, have no scenario in common."
    if (row["a_model"], row["a_prompt"]) != tuple(top):
        share, lo, hi = 1 - share, None if hi is None else 1 - hi, None if lo is None else 1 - lo
    level = percent(1 - float(row.get("alpha") or 0.05))
    span = f" ({level} interval {_share(lo)} to {_share(hi)})" if None not in (lo, hi) else ""
    return (
        f"Against the next-strongest cell, {second}, {first} won {_share(share)} of their "
        f"pairs on average over {scenarios(int(row['n_scenarios']))}{span}, a tie counting half; "
        "more scenarios or more judged pairs would be needed to separate them."
    )


def _share(value: float) -> str:
    """A win share as the pairwise tables show it: a whole percentage."""
    return f"{100 * value:.0f}%"


def _family_line(comparisons: pl.DataFrame, alpha: float, baseline: Cell | None) -> str:
    level = percent(1 - alpha)
    primary = comparisons.filter(pl.col("family") == "primary")
    size = int(primary["family_size"].max() or 0) if primary.height else 0
    if baseline is None:
        return (
            f"Verdicts at α = {alpha:g} with {level} intervals: Holm across the "
            f"{comparisons_text(size)}, every pair (no baseline was named before seeing the data)."
        )
    explore = comparisons.filter(pl.col("family") == "exploratory")
    extra = int(explore["family_size"].max() or 0) if explore.height else 0
    return (
        f"Verdicts at α = {alpha:g} with {level} intervals: Holm across the "
        f"{comparisons_text(size)} against the baseline {cell_label(*baseline)}, and "
        f"separately across the {comparisons_text(extra, 'exploratory')} of the other cells."
    )
