"""Compare's pairwise views: what the notebook and the report show of pairwise judgments.

Built by :func:`pairwise_view` from the experiment's pairs frame (``core/schema.PAIRS``) beside
the rubric's analysis (:mod:`.analysis`), with the statistics of ``stats/pairwise`` and
``stats/bradley_terry`` (``docs/architecture.md`` section 13): the pairwise leaderboard
(Bradley–Terry strength with its interval, win rate, win share against the baseline with its
interval, pairs, scenarios, the judges each cell rests on, provisional marks), the paired
verdicts grouped as the rubric's are (:mod:`.verdict_groups`), the win-rate matrix, each judge's
position bias and, when the experiment was also scored on the rubric, how far the two rankings
agree and the cell pairs they order differently. An experiment without counted pairs has no
view (None), so neither display shows an empty section. As in :mod:`.analysis`, every sentence
is made here and nothing is markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tipbench_lib.compare.pair_judges import PairJudges, pair_judges
from tipbench_lib.compare.verdict_groups import PAIRWISE, grouped_verdicts
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.frames import pair_outcomes
from tipbench_lib.stats.bradley_terry import strengths_with_resamples
from tipbench_lib.stats.headline import involving
from tipbench_lib.stats.judges import View
from tipbench_lib.stats.pairwise import (
    PAIR_AGREEMENT_FLOOR,
    RankAgreement,
    compare_pairwise,
    position_bias,
    rank_agreement,
    win_matrix,
)
from tipbench_lib.stats.scores import CELL_KEYS
from tipbench_lib.stats.sentences import family_text, percent, scenarios

Cell = tuple[str, str]

METHOD = (
    "A cell's strength is its Bradley–Terry log-odds of winning a pair: a strength 1 above "
    "another wins about 73% of their pairs. A tie counts as half a win for each side. Intervals "
    "resample scenarios (every pair of a scenario together); verdicts are the paired test over "
    "scenarios of each cell pair's win share, Holm within the family, as the rubric's are."
)
"""How the pairwise numbers are made, in words (``stats/bradley_terry``, ``stats/pairwise``)."""
BIAS_NOTE = (
    "Position bias: the share of a judge's decided showings won by the tip shown on the left "
    "(0.5: no lean), with an interval over pairs (a pair's two showings, which often go the "
    "same way, count as one decision). The sides are drawn at random per card and the LLM "
    "judge answers both orders (a win only when both agree), so a lean adds noise to the "
    "verdicts, not an advantage to a cell."
)
"""What the position-bias view measures, and why a lean does not favour a cell."""
AGREEMENT_NOTE = (
    "Agreement: Krippendorff's interval α of a judge's answers (A 1, tie ½, B 0) on the same "
    "tip pairs as those it is checked against (a person: the other person who agrees best; an "
    "LLM judge: the people, else the judge it agrees best with), "
    f"each judge's mean answer taken away; below {PAIR_AGREEMENT_FLOOR} (the pairs' floor, "
    "chosen by simulation: a choice among three answers agrees less than a composite) the "
    "judge's verdicts are provisional."
)
"""What the pair judges' agreement column means (``stats.pairwise.pair_judge_panel``)."""
VERDICT_ORDER = {"better": 0, "worse": 0, "indistinguishable": 1, "underpowered": 2}


@dataclass(frozen=True)
class PairwiseView:
    """One experiment's pairwise judgments, analysed: what both displays show."""

    judges: PairJudges
    level: float
    outcomes: pl.DataFrame
    """The counted pair outcomes of the view's judges (``core/schema.PAIR_OUTCOMES``)."""
    leaderboard: pl.DataFrame
    """``stats.bradley_terry.strengths`` with the shown baseline's win shares, then each cell's
    ``judges`` (judge, pair judgments, share) and ``provisional``; strongest first."""
    comparisons: pl.DataFrame
    """``stats.pairwise.compare_pairwise``: one row per cell pair (``pairwise.csv``)."""
    comparison_rows: pl.DataFrame
    """The same rows for reading: primary family first, clearest verdicts first."""
    against_baseline: pl.DataFrame
    baseline: Cell
    named: bool
    """True: the baseline was named before seeing the data; False: the strongest cell."""
    baseline_note: str
    matrix: pl.DataFrame
    """``stats.pairwise.win_matrix`` (row cell's win rate against the column cell, ``n``)."""
    position_bias: pl.DataFrame
    """``stats.pairwise.position_bias`` over every pair judge, the view's or not."""
    agreement: RankAgreement | None = None
    """The rubric leaderboard's order against the strengths' (None: no rubric scores)."""
    disagreements: pl.DataFrame = field(default_factory=pl.DataFrame)
    """The cell pairs the two rankings order differently, with each mode's numbers and verdict
    from the rubric's higher cell's side."""
    warnings: tuple[str, ...] = ()

    @property
    def baseline_label(self) -> str:
        return cell_label(*self.baseline)

    @property
    def baseline_intro(self) -> str:
        return f"Against {self.baseline_label}, {self.baseline_note}."

    @property
    def verdict_lines(self) -> tuple[str, ...]:
        """The pairwise verdicts against the shown baseline, one line per verdict."""
        return grouped_verdicts(self.against_baseline, self.baseline, percent(self.level), PAIRWISE)

    @property
    def headline(self) -> str:
        """The strongest cell with its interval, and how much was judged."""
        best = self.leaderboard.row(0, named=True)
        n_judgments = self.outcomes.height
        n_scenarios = self.outcomes["scenario_id"].n_unique()
        lo, hi = best["strength_lo"], best["strength_hi"]
        span = (
            f"{percent(self.level)} interval {lo:+.2f} to {hi:+.2f}"
            if lo is not None and hi is not None
            else "no interval: too few scenarios"
        )
        return (
            "Pairwise judging: highest Bradley–Terry strength "
            f"{cell_label(best['model'], best['prompt_version'])}, {best['strength']:+.2f} "
            f"({span}), winning {_pct(best['win_rate'])} of its "
            f"{best['n_pairs']} pair judgments; {n_judgments} pair judgments over "
            f"{scenarios(n_scenarios)} and {self.leaderboard.height} cells in all. "
            f"{self.anchor_note}"
        )

    @property
    def anchor_note(self) -> str:
        """What strength 0 is (``stats.bradley_terry``: the named baseline, else the mean)."""
        if self.named:
            return f"Strength 0 is the baseline {self.baseline_label}."
        return "Strength 0 is the cells' mean."

    @property
    def family_note(self) -> str:
        """Which comparisons Holm corrected together (the primary family's first row)."""
        if self.comparisons.height == 0:
            return ""
        row = self.comparisons.filter(pl.col("family") == "primary").row(0, named=True)
        return (
            f"Pairwise verdicts: {family_text(row)} at α = {row['alpha']:g}, "
            f"{percent(self.level)} intervals over scenarios."
        )

    @property
    def judge_rows(self) -> pl.DataFrame:
        """Every pair judge's agreement (``PairJudges.panel``) beside its position bias."""
        agreement = self.judges.panel.select(
            "judge_id", "n_judgments", "reference", "alpha", "n_alpha_tips", "provisional", "reason"
        )
        return self.position_bias.join(agreement, on="judge_id", how="left")

    @property
    def bias_lines(self) -> tuple[str, ...]:
        """Each judge's share of showings won by the left side, and whether it leans."""
        return tuple(bias_sentence(r, self.level) for r in self.position_bias.iter_rows(named=True))

    @property
    def agreement_line(self) -> str:
        """Kendall's τ of the two rankings with its interval ('' without rubric scores)."""
        found = self.agreement
        if found is None:
            return ""
        if found.n_cells < 2 or found.tau != found.tau:
            return (
                f"The rubric and the pairs rank {found.n_cells} cell(s) in common: too few to "
                "compare their orders."
            )
        span = ""
        if found.lo == found.lo and found.hi == found.hi:
            span = (
                f" ({percent(self.level)} interval {found.lo:+.2f} to {found.hi:+.2f}, "
                f"{found.method})"
            )
        n_pairs = found.n_cells * (found.n_cells - 1) // 2
        differ = self.disagreements.height
        decided = (
            self.disagreements.filter(
                pl.col("rubric_verdict").is_in(["better", "worse"])
                | pl.col("pairwise_verdict").is_in(["better", "worse"])
            ).height
            if differ
            else 0
        )
        if differ == 0:
            said = "they order every pair of cells alike"
        elif decided == 0:
            said = (
                f"they order {differ} of the {n_pairs} cell pairs differently, none of them "
                "decided (better or worse) in either mode, so those orders may differ by chance"
            )
        else:
            said = (
                f"they order {differ} of the {n_pairs} cell pairs differently, {decided} of "
                "them decided (better or worse) in one mode or both"
            )
        return (
            f"The rubric's ranking (mean composite) and the pairwise ranking (strength) agree "
            f"with Kendall's τ-b {found.tau:+.2f}{span} over {found.n_cells} cells: {said}."
        )


def pairwise_view(
    cells: pl.DataFrame,
    pairs: pl.DataFrame | None,
    *,
    rubric_view: View | None,
    provenance: Mapping[str, Any],
    alpha: float,
    baseline: Cell | None,
    n_boot: int,
    seed: int,
    rubric_leaderboard: pl.DataFrame | None = None,
    rubric_comparisons: pl.DataFrame | None = None,
    rubric_scenario_means: pl.DataFrame | None = None,
) -> PairwiseView | None:
    """The pairwise views of ``pairs`` (None: no counted pair judgment, or none of two known
    cells). ``baseline`` is the one named before seeing the data (or None); the rubric's
    frames, when given, give the two rankings' agreement (its interval a scenario bootstrap
    with the rubric's scenario means)."""
    if pairs is None or pairs.height == 0:
        return None
    left_out: list[str] = []
    every = pair_outcomes(cells, pairs, left_out)
    who = pair_judges(pairs, rubric_view, provenance)
    if who is None:
        return None
    outcomes = every.filter(
        pl.col("judge_id").is_in(list(who.judges)) & pl.col("answer").is_in(["a", "b", "tie"])
    )
    known = _cells(outcomes)
    if len(known) < 2:
        return None
    named = baseline if baseline is not None and tuple(baseline) in known else None
    comparisons = compare_pairwise(
        outcomes,
        alpha=alpha,
        baseline=named,
        provisional_judges=who.provisional_judges,
        seed=seed,
    )
    board, resamples = strengths_with_resamples(
        outcomes, baseline=named, alpha=alpha, n_boot=n_boot, seed=seed, comparisons=comparisons
    )
    shown: Cell = named or (board["model"][0], board["prompt_version"][0])
    note = (
        "the baseline named before seeing the data"
        if named
        else "the cell with the highest strength, chosen after seeing the data"
    )
    against = involving(comparisons, shown)
    board = with_cell_judges(with_shares_against(board, against, shown), outcomes, who)
    agreement = None
    disagreements = pl.DataFrame()
    if rubric_leaderboard is not None and rubric_leaderboard.height:
        agreement = rank_agreement(
            rubric_leaderboard,
            board,
            seed=seed,
            alpha=alpha,
            n_boot=n_boot,
            scenario_means=rubric_scenario_means,
            outcomes=outcomes,
            resamples=resamples,
        )
        disagreements = with_verdicts(agreement.disagreements, rubric_comparisons, comparisons)
    return PairwiseView(
        judges=who,
        level=1 - alpha,
        outcomes=outcomes,
        leaderboard=board,
        comparisons=comparisons,
        comparison_rows=reading_order(comparisons),
        against_baseline=against,
        baseline=shown,
        named=named is not None,
        baseline_note=note,
        matrix=win_matrix(outcomes),
        position_bias=position_bias(every, alpha=alpha),
        agreement=agreement,
        disagreements=disagreements,
        warnings=tuple(left_out),
    )


def _cells(outcomes: pl.DataFrame) -> set[Cell]:
    sides = pl.concat(
        [
            outcomes.select(
                pl.col(f"{s}_model").alias("model"), pl.col(f"{s}_prompt").alias("prompt")
            )
            for s in ("a", "b")
        ]
    ).unique()
    return {(str(m), str(p)) for m, p in sides.rows()}


def with_shares_against(board: pl.DataFrame, against: pl.DataFrame, base: Cell) -> pl.DataFrame:
    """The leaderboard's win share against the shown baseline, from the comparison rows.

    ``strengths`` fills these only for a named baseline; the rows of ``compare_pairwise`` hold
    the same mean share and t interval for any cell, so the shown baseline (the strongest cell,
    when none was named) gets them too, from one source.
    """
    rows = []
    for row in against.iter_rows(named=True):
        on_b = (row["b_model"], row["b_prompt"]) == tuple(base)
        other = (row["a_model"], row["a_prompt"]) if on_b else (row["b_model"], row["b_prompt"])
        mean, lo, hi = row["share_mean"], row["share_lo"], row["share_hi"]
        if not on_b:
            mean, lo, hi = (None if v is None else 1 - v for v in (mean, hi, lo))
        rows.append(
            {
                "model": other[0],
                "prompt_version": other[1],
                "win_rate_vs_baseline": mean,
                "vs_baseline_lo": lo,
                "vs_baseline_hi": hi,
            }
        )
    columns = ["win_rate_vs_baseline", "vs_baseline_lo", "vs_baseline_hi"]
    shares = pl.DataFrame(
        rows,
        schema={"model": pl.String, "prompt_version": pl.String}
        | dict.fromkeys(columns, pl.Float64),
    )
    order = board.columns
    return board.drop(columns).join(shares, on=list(CELL_KEYS), how="left").select(order)


def with_cell_judges(board: pl.DataFrame, outcomes: pl.DataFrame, who: PairJudges) -> pl.DataFrame:
    """Each cell's pair judges with their number of judgments and share ('ana 30 (50%)'), and
    whether any of them is provisional."""
    sides = pl.concat(
        [
            outcomes.select(
                pl.col(f"{s}_model").alias("model"),
                pl.col(f"{s}_prompt").alias("prompt_version"),
                "judge_id",
            )
            for s in ("a", "b")
        ]
    )
    counts = (
        sides.group_by(*CELL_KEYS, "judge_id")
        .len()
        .with_columns((pl.col("len") / pl.col("len").sum().over(CELL_KEYS)).alias("share"))
        .sort(*CELL_KEYS, "judge_id")
    )
    weak = set(who.provisional_judges)
    per_cell = counts.group_by(CELL_KEYS, maintain_order=True).agg(
        pl.format(
            "{} {} ({}%)",
            pl.col("judge_id"),
            pl.col("len"),
            (100 * pl.col("share")).round(0).cast(pl.Int64),
        )
        .str.join(", ")
        .alias("judges"),
        pl.col("judge_id").is_in(list(weak)).any().alias("provisional"),
    )
    return board.join(per_cell, on=list(CELL_KEYS), how="left")


def reading_order(comparisons: pl.DataFrame) -> pl.DataFrame:
    """Primary family first, then better/worse, indistinguishable, underpowered."""
    family = pl.col("family").replace_strict({"primary": 0}, default=1, return_dtype=pl.Int8)
    verdict = pl.col("verdict").replace_strict(VERDICT_ORDER, default=3, return_dtype=pl.Int8)
    return comparisons.sort([family, verdict, pl.col("p_holm")], nulls_last=True)


def _oriented_verdicts(rows: pl.DataFrame | None, name: str) -> pl.DataFrame:
    """Each cell pair of ``rows`` in both orders with its verdict from the first cell's side
    (``name``): the first row holding the two cells counts, as ``headline.pair_row`` reads."""
    keys = {
        "a_model": pl.String,
        "a_prompt": pl.String,
        "b_model": pl.String,
        "b_prompt": pl.String,
    }
    if rows is None or rows.height == 0:
        return pl.DataFrame(schema=keys | {name: pl.String})
    indexed = rows.select(*keys, pl.col("verdict").cast(pl.String)).with_row_index("_i")
    flipped = pl.col("verdict").replace({"better": "worse", "worse": "better"})
    backward = indexed.select(
        "_i",
        pl.col("b_model").alias("a_model"),
        pl.col("b_prompt").alias("a_prompt"),
        pl.col("a_model").alias("b_model"),
        pl.col("a_prompt").alias("b_prompt"),
        flipped.alias("verdict"),
    )
    return (
        pl.concat([indexed, backward])
        .sort("_i", maintain_order=True)
        .unique(subset=list(keys), keep="first", maintain_order=True)
        .select(*keys, pl.col("verdict").alias(name))
    )


def with_verdicts(
    disagreements: pl.DataFrame,
    rubric_comparisons: pl.DataFrame | None,
    comparisons: pl.DataFrame,
) -> pl.DataFrame:
    """The disagreeing cell pairs with each mode's verdict, from A's side (A: the cell the
    rubric ranks higher), so "indistinguishable" in both says the two orders differ by chance;
    '' where a mode did not compare the two."""
    keys = ["a_model", "a_prompt", "b_model", "b_prompt"]
    found = disagreements
    for rows, name in ((rubric_comparisons, "rubric_verdict"), (comparisons, "pairwise_verdict")):
        found = found.join(
            _oriented_verdicts(rows, name), on=keys, how="left", maintain_order="left"
        ).with_columns(pl.col(name).fill_null(""))
    schema = disagreements.schema | {"rubric_verdict": pl.String, "pairwise_verdict": pl.String}
    return found.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def bias_sentence(row: Mapping[str, Any], level: float) -> str:
    """One judge's position bias in words."""
    judge = row["judge_id"]
    decided = int(row["n_left"]) + int(row["n_right"])
    if decided == 0:
        return f"{judge}: every one of its {row['n_ties']} showings was a tie, so no lean to read."
    share, lo, hi = row["share_left"], row["share_left_lo"], row["share_left_hi"]
    if lo > 0.5:
        meaning = "it favours the tip shown on the left"
    elif hi < 0.5:
        meaning = "it favours the tip shown on the right"
    else:
        meaning = "no clear lean to either side"
    both, same = int(row.get("n_both_orders") or 0), int(row.get("n_same_side") or 0)
    if both and same:
        meaning += (
            f"; shown in both orders, {same} of {both} pairs went to the same side both times "
            "(position, not content: counted as ties)"
        )
    return (
        f"{judge}: the left tip won {_pct(share)} of its {decided} decided showings "
        f"({percent(level)} interval {_pct(lo)} to {_pct(hi)}; {row['n_ties']} ties): {meaning}."
    )


def _pct(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.0f}%"
