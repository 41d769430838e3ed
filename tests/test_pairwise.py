"""Pairwise statistics (stats/pairwise, stats/bradley_terry): shares, verdicts, strengths, bias.

Frames are built from :class:`tipbench_lib.core.records.PairJudgment` rows (the contract of
``docs/architecture.md`` section 13) or directly in the pair outcomes columns.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from scipy import optimize
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.records import JudgeSource, PairJudgment, RubricRef
from tipbench_lib.core.schema import PAIR_OUTCOMES
from tipbench_lib.stats import bradley_terry, pairwise
from tipbench_lib.stats.compare import VERDICTS

RUBRIC = RubricRef("tip", "tip-v1", "hash")
CELLS = {"c1": ("llama", "v1"), "c2": ("llama", "v2"), "c3": ("qwen", "v1")}


def judgment(scenario: str, left: str, right: str, choice: str, judge: str = "ana") -> dict:
    """A person's card: tips of cells ``left`` and ``right`` of ``scenario`` as shown."""
    made = PairJudgment.shown(
        (f"{left}-{scenario}-tip", left),
        (f"{right}-{scenario}-tip", right),
        choice,
        scenario_id=scenario,
        source=JudgeSource("human", judge),
        rubric=RUBRIC,
    )
    return made.row()


def outcomes_of(rows: list[dict]) -> pl.DataFrame:
    """The pair outcomes frame: the pairs frame with each side's (model, prompt)."""
    frame = pl.DataFrame(rows)
    cells = pl.DataFrame(
        [{"cell_id": c, "model": m, "prompt_version": p} for c, (m, p) in CELLS.items()]
    )
    for side in ("a", "b"):
        frame = frame.join(
            cells.rename(
                {
                    "cell_id": f"cell_{side}",
                    "model": f"{side}_model",
                    "prompt_version": f"{side}_prompt",
                }
            ),
            on=f"cell_{side}",
        )
    return frame.select(list(PAIR_OUTCOMES))


def direct(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """Outcomes from (scenario, judge, answer, which cells: 'c1c2'...) in the canonical order."""
    out = []
    for scenario, judge, answer, pair in rows:
        (am, ap), (bm, bp) = CELLS[pair[:2]], CELLS[pair[2:]]
        out.append(
            {
                "scenario_id": scenario,
                "a_model": am,
                "a_prompt": ap,
                "b_model": bm,
                "b_prompt": bp,
                "judge_id": judge,
                "judge_kind": "human",
                "answer": answer,
                "n_left": int(answer == "a"),
                "n_right": int(answer == "b"),
                "n_showings": 1,
            }
        )
    return pl.DataFrame(out, schema=PAIR_OUTCOMES)


def sample_frame() -> pl.DataFrame:
    rows = []
    for s in range(8):
        scenario = f"s{s}"
        rows.append(judgment(scenario, "c1", "c3", "right"))  # qwen/v1 wins
        rows.append(judgment(scenario, "c3", "c2", "left" if s < 7 else "tie"))
        rows.append(judgment(scenario, "c1", "c2", "tie" if s % 2 else "left", judge="bo"))
    return outcomes_of(rows)


def test_every_view_has_the_contracts_columns_from_pair_judgment_rows() -> None:
    frame = sample_frame()
    shares = pairwise.win_shares(frame)
    assert shares.columns[:10] == [
        "a_model", "a_prompt", "b_model", "b_prompt", "scenario_id",
        "wins_a", "wins_b", "ties", "n", "share_a",
    ]  # fmt: skip
    rows = pairwise.compare_pairwise(frame)
    for column in (
        "a_model", "a_prompt", "b_model", "b_prompt", "n_scenarios", "share_mean", "share_lo",
        "share_hi", "p", "p_holm", "verdict", "family", "family_size", "judges", "provisional",
    ):  # fmt: skip
        assert column in rows.columns
    assert set(rows["verdict"]) <= set(VERDICTS)
    strengths = bradley_terry.strengths(frame, baseline=("llama", "v1"), n_boot=200)
    assert strengths.columns == list(bradley_terry.COLUMNS)
    matrix = pairwise.win_matrix(frame)
    assert matrix.columns == ["row_model", "row_prompt", "col_model", "col_prompt", "win_rate", "n"]
    bias = pairwise.position_bias(frame)
    assert bias.columns == [
        "judge_id", "judge_kind", "n_left", "n_right", "n_ties",
        "n_both_orders", "n_same_side", "share_left", "share_left_lo", "share_left_hi",
    ]  # fmt: skip


def test_a_cell_that_wins_every_scenario_is_better_and_the_rows_say_who_judged() -> None:
    rows = pairwise.compare_pairwise(sample_frame())
    qwen = rows.filter((pl.col("a_model") == "qwen") & (pl.col("b_prompt") == "v1")).row(
        0, named=True
    )
    assert (qwen["b_model"], qwen["share_mean"], qwen["n_scenarios"]) == ("llama", 1.0, 8)
    assert qwen["p"] == pytest.approx(2 / 2**8)
    assert qwen["verdict"] == "better"
    assert qwen["judges"] == "ana"
    assert rows["family"].unique().to_list() == ["primary"] and rows["family_size"][0] == 3
    marked = pairwise.compare_pairwise(sample_frame(), provisional_judges=["bo"])
    assert marked.filter(pl.col("judges") == "bo")["provisional"].to_list() == [True]
    assert not marked.filter(pl.col("judges") == "ana")["provisional"].any()


def test_a_baseline_goes_in_b_and_the_other_pairs_are_exploratory() -> None:
    rows = pairwise.compare_pairwise(sample_frame(), baseline=("llama", "v2"))
    primary = rows.filter(pl.col("family") == "primary")
    assert primary.height == 2 and set(primary["b_prompt"]) == {"v2"}
    assert set(primary["b_model"]) == {"llama"}
    assert rows.filter(pl.col("family") == "exploratory").height == 1
    with pytest.raises(TipbenchError, match="pick one of: llama/v1, llama/v2, qwen/v1"):
        pairwise.compare_pairwise(sample_frame(), baseline=("gemma", "v1"))


def test_opposite_thirds_from_two_judges_are_an_exact_zero() -> None:
    """ana's share 2/3 and bo's 1/3 in s0 average to exactly 1/2: s0 is a zero, dropped by the
    signed-rank test, so 6 nonzero scenarios make a floor of 2/2^6, not 2/2^7."""
    rows = [("s0", "ana", a, "c1c2") for a in ("a", "a", "b")]
    rows += [("s0", "bo", a, "c1c2") for a in ("a", "b", "b")]
    rows += [(f"s{s}", "ana", "a", "c1c2") for s in range(1, 7)]
    frame = direct(rows)
    shares = pairwise.win_shares(frame).sort("scenario_id")
    assert shares["share_a"][0] == 0.5 and shares["n_judges"][0] == 2
    grid = pairwise.share_grid(frame)
    diffs = pairwise.centred_shares(grid)
    first = Fraction(int(diffs.numerators[0, 0]), diffs.denominator)
    assert first == 0
    row = pairwise.compare_pairwise(frame).row(0, named=True)
    assert row["min_p_attainable"] == pytest.approx(2 / 2**6)
    assert row["p"] == pytest.approx(2 / 2**6)
    assert row["share_mean"] == pytest.approx((0.5 + 6 * 1.0) / 7)


def test_rows_given_in_the_other_order_count_for_the_same_cell() -> None:
    forward = direct([(f"s{s}", "ana", "a", "c1c2") for s in range(7)])
    turned = forward.rename(
        {"a_model": "b_model", "a_prompt": "b_prompt", "b_model": "a_model", "b_prompt": "a_prompt"}
    ).with_columns(pl.lit("b").alias("answer"))
    for frame in (forward, turned):
        row = pairwise.compare_pairwise(frame).row(0, named=True)
        assert (row["a_model"], row["a_prompt"], row["share_mean"]) == ("llama", "v1", 1.0)
        assert row["verdict"] == "better"


def test_position_bias_counts_showings_and_gives_an_interval_over_pairs() -> None:
    """The llm judge's two pairs went left 3 of 3 decided showings: a share of 1, whose design
    effect cannot be estimated, so each pair counts once (Wilson over 2, t on 1 degree of
    freedom), not Wilson over the 3 showings."""
    frame = pl.DataFrame(
        {
            "judge_id": ["llm", "llm", "ana"],
            "judge_kind": ["llm", "llm", "human"],
            "n_left": [2, 1, 0],
            "n_right": [0, 0, 1],
            "n_showings": [2, 2, 1],
        }
    )
    bias = pairwise.position_bias(frame).sort("judge_id")
    llm = bias.row(1, named=True)
    assert (llm["n_left"], llm["n_right"], llm["n_ties"]) == (3, 0, 1)
    t = sps.t.ppf(0.975, 1)
    assert llm["share_left"] == 1.0
    assert llm["share_left_lo"] == pytest.approx(2 / (2 + t**2))  # Wilson's bound at p = 1
    assert llm["share_left_hi"] == 1.0
    assert bias.row(0, named=True)["share_left"] == 0.0
    assert (llm["n_both_orders"], llm["n_same_side"]) == (2, 1)


def test_the_interval_over_pairs_takes_the_design_effect_of_the_showings() -> None:
    """Pairs (left, decided) (2, 2), (0, 2), (1, 2), (2, 2): share 5/8; the cluster-robust
    variance over the 4 pairs against the binomial one over 8 showings gives the effective
    size, Wilson on it with t(3)."""
    left, decided = np.array([2, 0, 1, 2]), np.array([2, 2, 2, 2])
    share, lo, hi, size = pairwise.clustered_wilson(left, decided)
    p = 5 / 8
    robust = 4 / 3 * ((left - p * decided) ** 2).sum() / 8**2
    effect = max(robust / (p * (1 - p) / 8), 1)
    assert share == p and size == pytest.approx(8 / effect)
    t = sps.t.ppf(0.975, 3)
    n = 8 / effect
    centre = (p + t**2 / (2 * n)) / (1 + t**2 / n)
    half = t * math.sqrt(p * (1 - p) / n + t**2 / (4 * n**2)) / (1 + t**2 / n)
    assert (lo, hi) == (pytest.approx(centre - half), pytest.approx(centre + half))
    wide_lo, wide_hi = pairwise.wilson(5, 8)[1:]
    assert lo < wide_lo and hi > wide_hi  # two showings that go together are one decision


def test_a_judge_deciding_by_position_both_ways_shows_though_its_left_share_is_half() -> None:
    """Left won both showings of one pair and right both of another: share_left 1/2, as for no
    bias at all, but both pairs went to the same side twice (found by the pair LLM judge's
    benchmark: 14 of 20 pairs of smollm2-135m, share_left 0.40)."""
    frame = pl.DataFrame(
        {
            "judge_id": ["llm"] * 3,
            "judge_kind": ["llm"] * 3,
            "n_left": [2, 0, 1],
            "n_right": [0, 2, 1],
            "n_showings": [2, 2, 2],
        }
    )
    row = pairwise.position_bias(frame).row(0, named=True)
    assert row["share_left"] == 0.5
    assert (row["n_both_orders"], row["n_same_side"]) == (3, 2)


def test_win_matrix_rates_of_a_pair_add_up_to_one() -> None:
    matrix = pairwise.win_matrix(sample_frame())
    assert matrix.height == 6
    back = matrix.join(
        matrix,
        left_on=["row_model", "row_prompt", "col_model", "col_prompt"],
        right_on=["col_model", "col_prompt", "row_model", "row_prompt"],
    )
    assert np.allclose(back["win_rate"] + back["win_rate_right"], 1.0)
    qwen = matrix.filter((pl.col("row_model") == "qwen") & (pl.col("col_prompt") == "v2"))
    assert qwen["win_rate"].item() == pytest.approx((7 + 0.5) / 8)


def test_bradley_terry_mm_fit_is_the_likelihoods_maximum() -> None:
    rng = np.random.default_rng(4)
    wins = rng.integers(1, 12, size=(5, 5)).astype(float)
    np.fill_diagonal(wins, 0)
    beta = bradley_terry.fit(wins, np.array(0), prior=0.0)

    def minus_log_likelihood(free: np.ndarray) -> float:
        b = np.r_[0.0, free]
        diff = b[:, None] - b[None, :]
        return float(-(wins * -np.logaddexp(0, -diff)).sum())

    best = optimize.minimize(minus_log_likelihood, np.zeros(4), method="BFGS", tol=1e-12)
    assert np.allclose(beta, np.r_[0.0, best.x], atol=1e-5)


def test_strengths_rank_the_cells_and_give_win_rates_against_the_baseline() -> None:
    table = bradley_terry.strengths(sample_frame(), baseline=("llama", "v1"), n_boot=300)
    assert table["model"].to_list()[0] == "qwen" and table["rank"].to_list() == [1, 2, 3]
    base = table.filter(pl.col("prompt_version") == "v1", pl.col("model") == "llama")
    assert base["strength"].item() == 0.0 and base["win_rate_vs_baseline"].item() is None
    qwen = table.row(0, named=True)
    assert qwen["win_rate_vs_baseline"] == 1.0
    assert qwen["strength_lo"] < qwen["strength"] < qwen["strength_hi"]
    assert qwen["win_rate"] == pytest.approx((8 + 7.5) / 16)
    assert qwen["n_pairs"] == 16 and qwen["n_scenarios"] == 8


def test_rank_agreement_names_the_pairs_the_rankings_order_differently() -> None:
    strengths = pl.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "prompt_version": ["v1"] * 4,
            "strength": [0.0, 0.5, 1.0, 1.5],
            "strength_lo": [0.0, 0.2, 0.7, 1.2],
            "strength_hi": [0.0, 0.8, 1.3, 1.8],
        }
    )
    same = strengths.select(
        "model",
        "prompt_version",
        (pl.col("strength") * 4 + 10).alias("composite_mean"),
        (pl.col("strength_lo") * 4 + 10).alias("composite_lo"),
        (pl.col("strength_hi") * 4 + 10).alias("composite_hi"),
    )
    agreement = pairwise.rank_agreement(same, strengths)
    assert agreement.tau == 1.0 and agreement.disagreements.height == 0
    assert agreement.lo <= 1.0 and agreement.hi == 1.0 and agreement.n_cells == 4
    swapped = same.with_columns(
        pl.when(pl.col("model") == "b")
        .then(14.5)
        .otherwise(pl.col("composite_mean"))
        .alias("composite_mean")
    )
    other = pairwise.rank_agreement(swapped, strengths)
    assert other.tau == pytest.approx(4 / 6)
    assert other.disagreements.select("a_model", "b_model").rows() == [("b", "c")]


def test_rank_agreement_resamples_scenarios_when_the_data_are_given() -> None:
    frame = sample_frame()
    strengths = bradley_terry.strengths(frame, n_boot=200)
    rng = np.random.default_rng(0)
    level = {("qwen", "v1"): 12.0, ("llama", "v1"): 11.0, ("llama", "v2"): 10.0}
    means = pl.DataFrame(
        [
            {
                "model": m,
                "prompt_version": p,
                "scenario_id": f"s{s}",
                "composite": value + rng.normal(0, 0.3),
            }
            for (m, p), value in level.items()
            for s in range(8)
        ]
    )
    board = means.group_by("model", "prompt_version").agg(
        pl.col("composite").mean().alias("composite_mean")
    )
    agreement = pairwise.rank_agreement(
        board, strengths, scenario_means=means, outcomes=frame, n_boot=300
    )
    assert agreement.method == "scenario bootstrap"
    assert agreement.tau == 1.0 and agreement.hi == 1.0
    assert -1.0 <= agreement.lo <= 1.0 and agreement.disagreements.height == 0


def test_every_judge_weighs_the_same_in_a_scenario_whatever_cards_they_answered() -> None:
    """ana answered four cards for llama/v1, bo one against it: the scenario's share is the
    mean of 1 and 0, not 4 of 5 pooled, so a judge who answers more cannot outvote another."""
    rows = [("s0", "ana", "a", "c1c2")] * 4 + [("s0", "bo", "b", "c1c2")]
    shares = pairwise.win_shares(direct(rows))
    assert shares["share_a"].item() == 0.5
    assert (shares["wins_a"].item(), shares["wins_b"].item(), shares["n"].item()) == (4, 1, 5)
    assert pairwise.win_matrix(direct(rows))["win_rate"][0] == pytest.approx(0.8)  # pooled


def test_the_pairwise_modules_use_only_public_names_of_the_rubric_statistics() -> None:
    """stats/pairwise and stats/pair_judges reuse compare's test and Holm, pairs' common
    denominator and judges' agreement rule: by their public names, so a refactor of either side
    sees who relies on them (one place per behaviour)."""
    import ast
    from pathlib import Path

    import tipbench_lib.stats as stats_package

    root = Path(stats_package.__file__).parent
    private = []
    for name in ("pairwise.py", "pair_judges.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tipbench_lib"):
                private += [
                    f"{name}: {node.module}.{a.name}" for a in node.names if a.name[0] == "_"
                ]
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"compare", "judges", "pairs"}
                and node.attr.startswith("_")
            ):
                private.append(f"{name}: {node.value.id}.{node.attr}")
    assert private == []


def test_the_pair_judges_panel_is_the_same_whatever_the_rows_order() -> None:
    """``pair_judge_panel`` pivoted groups in polars' hash order, so the judges' order, who each
    is checked against and the last bits of alpha changed from one run to the next (found by
    the compare speed benchmark's fingerprint). Rows shuffled give the very same panel."""
    import numpy as np

    from tipbench_lib.core.frames import pairs_frame
    from tipbench_lib.stats.pair_judges import pair_judge_panel

    from .pair_data import pair_judgments
    from .test_compare_pairwise import experiment

    exp = experiment()
    made = []
    for seed, judge in enumerate(("judge-0", "judge-1"), start=1):
        made += pair_judgments(exp, judge, tips=2, seed=seed)
    pairs = pairs_frame(made)
    first = pair_judge_panel(pairs)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(pairs.height)
        assert pair_judge_panel(pairs[order]).equals(first)
