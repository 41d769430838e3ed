"""The pairwise statistics on simulated people with a known truth (validation/pair_simulation).

Each bound is the claim plus a margin of three binomial standard errors for the replicates
used, so a correct procedure passes with a fixed seed and a wrong one (tip pairs taken as
independent units, intervals too narrow, a position bias left in) fails.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tipbench_lib.stats import bradley_terry, pairwise
from tipbench_lib.validation import pair_simulation as ps

SPREAD = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)


def margin(rate: float, n: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / n)


def primary_called(rows: pl.DataFrame) -> float:
    called = (
        rows.filter(pl.col("family") == "primary")
        .group_by("experiment")
        .agg(pl.col("verdict").is_in(["better", "worse"]).any().alias("called"))
    )
    return float(called["called"].mean())


def test_family_wise_error_of_equal_cells_stays_within_alpha() -> None:
    runs = 300
    for baseline in (0, None):
        setup = ps.Setup(n_scenarios=12, baseline=baseline)
        rows = ps.compare(setup, ps.outcomes(setup, runs, seed=11))
        assert primary_called(rows) <= 0.05 + margin(0.05, runs)
        assert set(rows["verdict"]) <= {"indistinguishable", "underpowered", "better", "worse"}


def test_the_win_shares_intervals_cover_the_true_shares() -> None:
    runs = 200
    setup = ps.Setup(n_scenarios=12, effects=SPREAD)
    rows = ps.compare(setup, ps.outcomes(setup, runs, seed=12))
    inside = (rows["share_lo"] <= rows["true_share"]) & (rows["true_share"] <= rows["share_hi"])
    assert inside.mean() >= 0.95 - margin(0.05, runs)  # pairs of a replicate go together
    # rows put the higher share (or the cell against the baseline) in A, so the error is read
    # in one fixed orientation: the smaller (model, prompt) cell's share
    first = (pl.col("a_model") < pl.col("b_model")) | (
        (pl.col("a_model") == pl.col("b_model")) & (pl.col("a_prompt") < pl.col("b_prompt"))
    )
    error = rows.select(
        pl.when(first).then(1).otherwise(-1) * (pl.col("share_mean") - pl.col("true_share"))
    ).to_series()
    assert abs(error.mean()) <= 4 * error.std() / math.sqrt(runs)


def test_bradley_terry_strengths_are_on_target_and_their_intervals_cover() -> None:
    runs = 150
    setup = ps.Setup(n_scenarios=12, effects=SPREAD)
    table = bradley_terry.strengths(
        ps.outcomes(setup, runs, seed=13), baseline=setup.baseline_cell(), n_boot=300,
        by="experiment",
    )  # fmt: skip
    truth = ps.true_strengths(setup)
    slot = {cell: i for i, cell in enumerate(setup.cells())}
    index = np.array([slot[c] for c in zip(table["model"], table["prompt_version"], strict=True)])
    others = index != 0
    estimate = table["strength"].to_numpy()[others]
    target = truth[index[others]]
    inside = (table["strength_lo"].to_numpy()[others] <= target) & (
        target <= table["strength_hi"].to_numpy()[others]
    )
    assert inside.mean() >= 0.95 - margin(0.05, runs)
    for cell in range(1, setup.n_cells):
        mine = estimate[index[others] == cell]
        spread = mine.std(ddof=1) / math.sqrt(len(mine))
        assert abs(mine.mean() - truth[cell]) <= 4 * spread + 0.02  # + the virtual games' pull


def test_both_orders_remove_a_left_position_bias_that_a_fixed_order_turns_into_verdicts() -> None:
    runs = 150
    llm = {"leans": (0.0,), "position": (1.0,), "judge_kind": "llm"}
    fixed = ps.Setup(n_scenarios=12, sides="fixed", **llm)
    both = ps.Setup(n_scenarios=12, both_orders=True, **llm)
    fixed_frame, both_frame = ps.outcomes(fixed, runs, seed=14), ps.outcomes(both, runs, seed=14)
    assert primary_called(ps.compare(fixed, fixed_frame)) > 0.5
    assert primary_called(ps.compare(both, both_frame)) <= 0.05 + margin(0.05, runs)
    bias = pairwise.position_bias(both_frame).row(0, named=True)
    assert bias["share_left_lo"] > 0.85  # measured and shown: the judge picks the left tip


def test_a_careless_or_position_biased_person_is_provisional_and_people_are_not() -> None:
    setup = ps.Setup(
        n_scenarios=12,
        effects=SPREAD,
        leans=(-0.5, 0.0, 0.5, 0.0, 0.0),
        position=(0.0, 0.2, 0.4, 0.0, 1.0),
        noise=(0.3, 0.3, 0.3, 1.5, 0.3),
    )
    frame = ps.outcomes(setup, 1, seed=15)
    frame = frame.with_columns(
        pl.Series("pair_id", np.repeat(np.arange(frame.height // 5), 5)).cast(pl.String)
    )
    panel = pairwise.pair_judge_panel(frame).sort("judge_id")
    assert panel["provisional"].to_list() == [False, False, False, True, True]
    assert "on the same tip pairs" in panel["reason"][3]
    weak = pairwise.pair_provisional_judges(frame)
    rows = pairwise.compare_pairwise(frame, provisional_judges=weak)
    assert rows["provisional"].all() and rows["judges"][0] == "0, 1, 2, 3, 4"


@pytest.mark.parametrize("cards_per_unit", [1, 3])
def test_the_pair_queue_finds_a_clear_winner_and_calls_no_equal_cell(cards_per_unit: int) -> None:
    from tipbench_lib.validation import queue_simulation as qs

    setup = ps.queue_setup(qs.Experiment(difference=4.0))
    drawn = ps.answers(setup, 4, seed=16)
    runs = [
        ps.pair_queue_run(setup, drawn, r, seed=r, cards_per_unit=cards_per_unit) for r in range(4)
    ]
    assert not any(run.false_call for run in runs)
    assert all(run.decisions[3] == "better" for run in runs)
    assert all(run.cards < 24 * 8 * cards_per_unit for run in runs)


def bias_coverage(judge: ps.PositionJudge, both_orders: bool, runs: int, seed: int) -> float:
    """How often ``position_bias``'s interval holds the true left share 0.6 of ``runs`` judges
    (each a replicate: 20 pairs, leaning left by 0.1)."""
    left, decided = ps.position_showings(judge, 0.1, 20, both_orders, runs, seed)
    showings = 2 if both_orders else 1
    frame = pl.DataFrame(
        {
            "judge_id": np.repeat(np.arange(runs), 20).astype(str),
            "judge_kind": "llm",
            "n_left": left.ravel(),
            "n_right": (decided - left).ravel(),
            "n_showings": np.full(left.size, showings),
        }
    )
    bias = pairwise.position_bias(frame)
    inside = (bias["share_left_lo"] <= 0.6) & (bias["share_left_hi"] >= 0.6)
    return float(inside.mean())


@pytest.mark.parametrize("judge", ps.POSITION_JUDGES, ids=lambda j: j.name)
@pytest.mark.parametrize("both_orders", [True, False], ids=["both orders", "once"])
def test_the_position_bias_interval_covers_judges_whose_two_showings_go_together(
    judge: ps.PositionJudge, both_orders: bool
) -> None:
    """A judge picking a side picks it in both orders: its two showings are one decision.
    Wilson's interval over showings covered such a judge 0.85 of the time; the interval over
    pairs covers every judge type (the full table: ``bench/pairwise.py --parts bias``)."""
    runs = 400
    assert bias_coverage(judge, both_orders, runs, seed=21) >= 0.95 - margin(0.05, runs)
