"""tipbench_lib.stats against scipy, statsmodels and the krippendorff package on the same data."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import krippendorff
import numpy as np
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from tipbench_lib import stats
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.schema import CELLS
from tipbench_lib.stats import intervals, power
from tipbench_lib.stats.agreement import krippendorff_alpha
from tipbench_lib.stats.paired import permutation_p, wilcoxon_p
from tipbench_lib.stats.resampling import paired_intervals
from tipbench_lib.validation import synthetic
from tipbench_lib.validation.synthetic import CANDIDATES, JUDGMENTS

# ---------------------------------------------------------------- frames built by hand


def _frames(composites: dict[tuple[str, str], list[list[float]]]) -> tuple[pl.DataFrame, ...]:
    """Cells, candidates and judgments whose composites are exactly the numbers given.

    ``composites[(model, prompt)]`` lists, per scenario, the composite of each tip. The rubric
    dimensions are set so that relevance + actionability + tone + 2 = composite (format_ok true).
    """
    cells, candidates, judgments = [], [], []
    for (model, prompt), scenarios in composites.items():
        for s, tips in enumerate(scenarios):
            cell_id = f"{model}|{prompt}|s{s:02d}"
            cells.append(
                {
                    "cell_id": cell_id,
                    "model": model,
                    "prompt_version": prompt,
                    "scenario_id": f"s{s:02d}",
                    "persona": "nurse",
                    "time_slot": "morning",
                }
            )
            for k, value in enumerate(tips):
                cid = f"{cell_id}#{k}"
                candidates.append(
                    {
                        "candidate_id": cid,
                        "cell_id": cell_id,
                        "sample_index": k,
                        "text": "x" * (50 + 10 * k),
                        "latency_s": 1.0 + k,
                        "eval_tokens": 20,
                        "tokens_per_s": 30.0,
                        "format_ok_auto": True,
                        "overlong_auto": False,
                    }
                )
                judgments.append(_judgment(cid, "ann", "human", value))
    return (
        pl.DataFrame(cells, schema=CELLS),
        pl.DataFrame(candidates, schema=CANDIDATES),
        pl.DataFrame(judgments, schema=JUDGMENTS),
    )


def _judgment(cid: str, judge: str, kind: str, composite: float, minute: int = 0) -> dict:
    dims = composite - 2
    relevance = int(round(dims / 3))
    tone = int(round((dims - relevance) / 2))
    actionability = int(dims - relevance - tone)
    return {
        "candidate_id": cid,
        "judge_id": judge,
        "judge_kind": kind,
        "rubric_version": "tip-v1",
        "relevance": relevance,
        "actionability": actionability,
        "tone": tone,
        "format_ok": True,
        "overlong": False,
        "composite": float(composite),
        "created_at": datetime(2025, 1, 1, 12, minute, tzinfo=UTC),
    }


def _scores(composites: dict[tuple[str, str], list[list[float]]]) -> pl.DataFrame:
    return stats.score_table(*_frames(composites))


def _judged(composites: dict[tuple[str, str], list[list[float]]]) -> pl.DataFrame:
    """One row per (candidate, judge), what compare_pairs pairs on."""
    return stats.judge_scores(*_frames(composites))


# ---------------------------------------------------------------- score table


def test_score_table_excludes_unjudged_uses_latest_and_averages_judges() -> None:
    cells, candidates, judgments = _frames({("m", "v1"): [[11, 9], [8, 10]]})
    unjudged = candidates.row(0, named=True) | {"candidate_id": "never-judged", "sample_index": 7}
    candidates = pl.concat([candidates, pl.DataFrame([unjudged], schema=CANDIDATES)])
    first = judgments["candidate_id"][0]
    extra = pl.DataFrame(
        [
            _judgment(first, "ann", "human", 5, minute=30),  # ann revised her score: 11 -> 5
            _judgment(first, "bob", "llm", 13),
            _judgment(judgments["candidate_id"][1], "bob", "llm", 2)
            | {"relevance": None},  # failed
        ],
        schema=JUDGMENTS,
    )
    scores = stats.score_table(cells, candidates, pl.concat([judgments, extra]))
    assert "never-judged" not in scores["candidate_id"].to_list()
    assert scores.height == 4
    row = scores.filter(pl.col("candidate_id") == first).row(0, named=True)
    assert row["composite"] == pytest.approx((5 + 13) / 2)
    assert row["n_judges"] == 2
    assert row["char_count"] == 50
    failed = scores.filter(pl.col("candidate_id") == judgments["candidate_id"][1])
    assert failed["n_judges"][0] == 1  # the judgment without scores does not count
    only_llm = stats.score_table(cells, candidates, pl.concat([judgments, extra]), kinds=["llm"])
    assert only_llm["composite"].to_list() == [13.0]
    only_ann = stats.score_table(cells, candidates, pl.concat([judgments, extra]), judges=["ann"])
    assert sorted(only_ann["composite"].to_list()) == [5.0, 8.0, 9.0, 10.0]


def test_score_table_names_missing_columns_and_orphan_candidates() -> None:
    cells, candidates, judgments = _frames({("m", "v1"): [[11]]})
    with pytest.raises(TipbenchError, match="judgments lacks the column.*composite"):
        stats.score_table(cells, candidates, judgments.drop("composite"))
    with pytest.raises(TipbenchError, match="missing from cells"):
        stats.score_table(cells.clear(), candidates, judgments)


def test_scenario_means_average_tips_within_scenario() -> None:
    means = stats.scenario_means(_scores({("m", "v1"): [[10, 12, 14], [6]]}))
    assert means["n_tips"].to_list() == [3, 1]
    assert means["composite"].to_list() == [12.0, 6.0]


# ---------------------------------------------------------------- tests against scipy


@pytest.mark.parametrize("n", [3, 5, 8, 12, 13, 14, 30, 50, 60])
def test_wilcoxon_matches_scipy_row_by_row_with_ties_and_zeros(n: int) -> None:
    rng = np.random.default_rng(n)
    continuous = rng.normal(0.4, 1, (20, n))
    discrete = np.round(rng.normal(0.4, 1, (6, n)) * 2) / 2  # ties and zeros (scipy: slow)
    diffs = np.vstack([continuous, discrete, np.zeros((1, n))])
    mine = wilcoxon_p(diffs)
    reference = [1.0 if not row.any() else sps.wilcoxon(row).pvalue for row in diffs]
    np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-12)


def test_compare_pairs_p_values_are_scipys_on_the_scenario_differences() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(12, 1, (9, 2)).round(1)
    b = a - rng.normal(0.8, 1, (9, 1)).round(1)
    scores = _judged({("ma", "v1"): a.tolist(), ("mb", "v1"): b.tolist()})
    row = stats.compare_pairs(scores, n_perm=1000).row(0, named=True)
    sign = 1 if row["a_model"] == "ma" else -1
    diffs = sign * (a.mean(axis=1) - b.mean(axis=1))
    assert row["diff_mean"] == pytest.approx(diffs.mean())
    assert row["p_wilcoxon"] == pytest.approx(sps.wilcoxon(diffs).pvalue, rel=1e-10)
    exact = sps.permutation_test(
        (diffs,),
        np.mean,
        permutation_type="samples",
        n_resamples=10_000,
        vectorized=True,
        axis=-1,
    )
    assert row["p_permutation"] == pytest.approx(exact.pvalue, rel=1e-10)  # 2^9 <= n_perm: exact


def test_monte_carlo_permutation_p_is_close_to_scipys() -> None:
    rng = np.random.default_rng(5)
    diffs = rng.normal(0.35, 1, (1, 25))
    mine = permutation_p(diffs, 20_000, np.random.default_rng(1))[0]
    theirs = sps.permutation_test(
        (diffs[0],),
        np.mean,
        permutation_type="samples",
        n_resamples=20_000,
        vectorized=True,
        axis=-1,
        rng=2,
    ).pvalue
    assert 0.01 < theirs < 0.5
    assert mine == pytest.approx(theirs, abs=0.01)


def test_holm_matches_statsmodels_and_skips_nan() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2, 0.001, 0.04])
    present = ~np.isnan(p)
    expected = multipletests(p[present], method="holm")[1]
    adjusted = stats.holm(p)
    np.testing.assert_allclose(adjusted[present], expected, rtol=1e-12)
    assert np.isnan(adjusted[2])


def test_leaderboard_percentile_matches_scipy_bootstrap_on_one_tip_per_scenario() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(11, 2, 15).round(1)
    scores = _scores({("m", "v1"): [[v] for v in values]})  # one tip: two stages = one stage
    board = stats.leaderboard(scores, n_boot=20_000, method="percentile", seed=4)
    reference = sps.bootstrap(
        (values,), np.mean, n_resamples=20_000, method="percentile", rng=9
    ).confidence_interval
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert board["composite_lo"][0] == pytest.approx(reference.low, abs=0.05 * se)
    assert board["composite_hi"][0] == pytest.approx(reference.high, abs=0.05 * se)


def test_studentized_interval_matches_bootstrap_t_built_on_scipy() -> None:
    rng = np.random.default_rng(12)
    diffs = rng.gamma(2.0, 1.0, 14)  # skewed, so bootstrap-t differs from a symmetric interval
    mean, se = diffs.mean(), diffs.std(ddof=1) / math.sqrt(len(diffs))

    def t_stat(x: np.ndarray, axis: int = -1) -> np.ndarray:
        spread = x.std(axis=axis, ddof=1) / math.sqrt(x.shape[axis])
        return (x.mean(axis=axis) - mean) / spread

    t_star = sps.bootstrap(
        (diffs,), t_stat, n_resamples=40_000, vectorized=True, rng=3
    ).bootstrap_distribution
    t_star = t_star[np.isfinite(t_star)]
    ref_lo, ref_hi = mean - np.quantile(t_star, 0.975) * se, mean - np.quantile(t_star, 0.025) * se
    lo, hi, fallback = paired_intervals(
        diffs[None, :], 40_000, np.random.default_rng(8), 0.95, "studentized"
    )
    assert not fallback[0]
    assert lo[0] == pytest.approx(ref_lo, abs=0.05 * se)
    assert hi[0] == pytest.approx(ref_hi, abs=0.05 * se)
    assert (hi[0] - mean) > (mean - lo[0])  # right skew widens the upper side


def test_two_stage_spread_counts_scenarios_and_tips_within_them() -> None:
    # With replacement at both stages, Var*(mean) = (between + mean of within/K) / S, where
    # between and within are population variances; the percentile interval is ~ +-1.96 sd*.
    rng = np.random.default_rng(21)
    tips = [
        rng.normal(10 + rng.normal(0, 1), 1.5, size=rng.integers(1, 6)).round(1) for _ in range(40)
    ]
    scores = _scores({("m", "v1"): [t.tolist() for t in tips]})
    board = stats.leaderboard(scores, n_boot=40_000, method="percentile", seed=2)
    means = np.array([t.mean() for t in tips])
    within = np.array([t.var() / len(t) for t in tips])
    sd_star = math.sqrt((means.var() + within.mean()) / len(tips))
    width = board["composite_hi"][0] - board["composite_lo"][0]
    assert width == pytest.approx(2 * 1.96 * sd_star, rel=0.03)
    assert board["composite_mean"][0] == pytest.approx(means.mean())


# ---------------------------------------------------------------- verdicts


def _two_cells(diffs: list[float], n_tips: int = 2) -> pl.DataFrame:
    base = [[10.0 + (k % 2)] * 1 for k in range(len(diffs))]
    a = [[b[0] + d] * n_tips for b, d in zip(base, diffs, strict=True)]
    b = [[b[0]] * n_tips for b in base]
    return _judged({("strong", "v2"): a, ("weak", "v1"): b})


def test_four_scenarios_are_underpowered_whatever_the_difference() -> None:
    row = stats.compare_pairs(_two_cells([3.0, 4.0, 5.0, 3.5])).row(0, named=True)
    assert row["verdict"] == "underpowered"
    assert row["min_p_attainable"] == pytest.approx(0.125)
    assert row["p_holm"] is None
    assert math.isinf(row["mdd"])
    text = stats.sentence(row)
    assert "with 4 scenarios the smallest p its signed-rank test can reach is 0.125" in text
    assert "above α = 0.05, so it could not enter the Holm correction of the 1 primary" in text
    assert "At least 6 scenarios are needed" in text


def test_clear_difference_over_twelve_scenarios_is_better_and_worse_against_baseline() -> None:
    diffs = [2.0, 2.5, 1.5, 3.0, 2.2, 1.8, 2.7, 2.1, 1.6, 2.4, 2.9, 2.3]
    scores = _two_cells(diffs)
    row = stats.compare_pairs(scores).row(0, named=True)
    assert (row["a_model"], row["verdict"]) == ("strong", "better")
    assert row["diff_lo"] > 0 and row["p_holm"] < 0.05
    assert stats.sentence(row).startswith(
        f"strong · v2 beats weak · v1 by {np.mean(diffs):.1f} points (95% CI "
    )
    against = stats.compare_pairs(scores, baseline=("strong", "v2")).row(0, named=True)
    assert (against["a_model"], against["b_model"], against["verdict"]) == (
        "weak",
        "strong",
        "worse",
    )
    assert against["diff_hi"] < 0
    assert stats.sentence(against).startswith("weak · v1 trails strong · v2 by 2.2 points")


def test_noise_around_zero_is_indistinguishable() -> None:
    diffs = [0.5, -0.5, 1.0, -1.0, 0.2, -0.3, 0.4, -0.6, 0.1, 0.0, -0.2, 0.3]
    row = stats.compare_pairs(_two_cells(diffs)).row(0, named=True)
    assert row["verdict"] == "indistinguishable"
    assert row["diff_lo"] < 0 < row["diff_hi"]
    assert "cannot be told apart over 12 scenarios" in stats.sentence(row)


def test_verdict_needs_both_holm_and_an_interval_excluding_zero() -> None:
    four = np.ones(5, dtype=np.int64) * 12
    verdicts = stats.compare.verdicts(
        rejected=np.array([True, True, False, False, False]),
        lo=np.array([0.5, -0.1, 0.5, 0.5, 0.5]),
        hi=np.array([1.0, 1.0, 1.0, 1.0, 1.0]),
        floor=np.array([0.001, 0.001, 0.001, 0.2, 0.001]),
        stop=np.full(5, 0.01),
        n_shared=four,
        n_usable=np.array([12, 12, 12, 12, 0]),
        alpha=0.05,
        reach=np.array([0.5, 0.5, 0.5, 0.5, np.nan]),
    )
    assert verdicts.tolist() == [
        "better",
        "indistinguishable",
        "indistinguishable",
        "underpowered",
        "confounded",
    ]


def test_unknown_baseline_is_named() -> None:
    with pytest.raises(TipbenchError, match="baseline nope/v9 is not a"):
        stats.compare_pairs(_two_cells([1.0] * 6), baseline=("nope", "v9"))


def test_pairs_use_only_shared_scenarios() -> None:
    scores = _judged({("a", "v1"): [[12]] * 8, ("b", "v1"): [[10]] * 6})
    row = stats.compare_pairs(scores).row(0, named=True)
    assert row["n_scenarios"] == 6
    assert row["diff_mean"] == pytest.approx(2.0)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_frames_and_another_seed_other_intervals() -> None:
    experiment = synthetic.generate(n_models=3, n_prompts=2, n_scenarios=10, seed=5)
    again = synthetic.generate(n_models=3, n_prompts=2, n_scenarios=10, seed=5)
    assert experiment.judgments.equals(again.judgments)
    scores = stats.score_table(experiment.cells, experiment.candidates, experiment.judgments)
    judged = stats.judge_scores(experiment.cells, experiment.candidates, experiment.judgments)
    boot = {"method": "studentized", "n_boot": 500}
    assert stats.leaderboard(scores, seed=1, **boot).equals(
        stats.leaderboard(scores, seed=1, **boot)
    )
    assert stats.compare_pairs(judged, seed=1).equals(stats.compare_pairs(judged, seed=1))
    other = stats.leaderboard(scores, seed=2, **boot)
    first = stats.leaderboard(scores, seed=1, **boot)
    assert not other["composite_lo"].equals(first["composite_lo"])


# ---------------------------------------------------------------- power


@pytest.mark.parametrize(("n", "threshold"), [(8, 0.05), (12, 0.05 / 15), (24, 0.05 / 190)])
def test_detectable_difference_is_the_signed_rank_tests_80_percent_point(n, threshold) -> None:
    """Normal differences at the reported difference: the test itself passes 80% of the time."""
    mdd = stats.minimum_detectable_difference(n, 1.7, threshold)
    rng = np.random.default_rng(n)
    diffs = rng.normal(mdd * power.unbiased_sd_factor(n), 1.7, (20_000, n))
    assert (wilcoxon_p(diffs) < threshold).mean() == pytest.approx(0.80, abs=0.015)


def test_critical_values_are_scipys_exact_and_asymptotic_thresholds() -> None:
    for n, threshold in ((6, 0.05), (10, 0.01), (20, 0.001), (60, 0.0001)):
        c = power.critical_value(n, threshold)
        ranks = np.arange(1.0, n + 1)
        for w, passes in ((c, True), (c - 1, False)):
            signs = _signs_with_sum(ranks, w)
            p = sps.wilcoxon(ranks * signs, method="exact" if n <= 50 else "asymptotic").pvalue
            assert bool(p < threshold) == passes, (n, threshold, w, p)


def _signs_with_sum(ranks: np.ndarray, total: int) -> np.ndarray:
    """Signs making the positive ranks sum to ``total`` (greedy from the largest)."""
    signs, left = -np.ones(len(ranks)), total
    for i in range(len(ranks) - 1, -1, -1):
        if ranks[i] <= left:
            signs[i], left = 1.0, left - ranks[i]
    assert left == 0
    return signs


def test_lehmann_approximation_agrees_with_the_simulation_above_24_scenarios() -> None:
    for n in (24, 30):
        c = power.critical_value(n, 0.05 / 15)
        simulated = power.detectable_ratio(n, 0.05 / 15)
        assert power._lehmann_ratio(n, c, 0.8) == pytest.approx(simulated, rel=0.02)


def test_owens_t_bivariate_normal_matches_scipy() -> None:
    for h, k, rho in ((0.3, 0.5, 0.5), (1.2, 0.4, 0.7071), (0.05, 2.0, 0.3)):
        expected = sps.multivariate_normal(cov=[[1, rho], [rho, 1]]).cdf([h, k])
        assert power._bivariate_normal(np.array(h), np.array(k), rho) == pytest.approx(
            expected, abs=1e-6
        )


def test_discrete_differences_need_a_larger_shift_near_the_floor() -> None:
    """On a coarse grid zeros and ties make the all-positive outcome rarer than for smooth data."""
    smooth = power.detectable_ratio(12, 0.05 / 57, tied=True)
    coarse = power.discrete_ratio(12, 0.05 / 57, 0.25)
    assert coarse > smooth * 1.05
    rng = np.random.default_rng(4)
    rounded = 0.25 * np.rint((rng.normal(size=(20_000, 12)) + coarse) / 0.25)
    scale = math.sqrt(1 + 0.25**2 / 12)
    assert (wilcoxon_p(rounded) < 0.05 / 57).mean() == pytest.approx(0.80, abs=0.02)
    assert scale > 1


def test_grid_step_finds_the_resolution_of_averaged_whole_scores() -> None:
    """Exact differences in thousandths of a point: halves, thirds, and a row on no grid."""
    rows = np.array([[500, -1000, 1500, 0], [333, 667, -1000, 0], [137, 520, 1900, 2200]])
    thirds = np.array([[1, 2, -3, 0]])
    assert power.grid_step(rows[[0, 2]], 1000).tolist() == [0.5, 0.0]
    assert power.grid_step(thirds, 3).tolist() == [1 / 3]
    assert power.grid_step(rows[[1]], 1000).tolist() == [0.0]  # 0.333 is not a third


def test_scenarios_needed_is_the_first_n_that_detects_the_difference() -> None:
    threshold = 0.05 / 15
    needed = stats.scenarios_needed(1.0, 2.0, threshold)
    assert (
        power.detectable_ratio(needed, threshold)
        <= 0.5
        < power.detectable_ratio(needed - 1, threshold)
    )
    assert stats.scenarios_needed(5.0, 0.1, 0.05) == 6  # huge effect: only 2/2^n < 0.05 limits
    assert stats.smallest_testable_n(0.05) == 6
    assert stats.smallest_testable_n(0.05 / 15) == 10
    assert math.isinf(stats.minimum_detectable_difference(5, 1.0))
    assert stats.scenarios_needed(0.0, 1.0) is None
    assert stats.scenarios_needed(0.001, 1.0) is None  # beyond the cap


def test_power_table_uses_target_difference() -> None:
    scores = _two_cells([1.0, 2.0, 0.5, 1.5, 1.0, 2.5, 0.0, 1.2])
    table = stats.power_table(scores, target_diff=0.5)
    row = table.row(0, named=True)
    assert row["scenarios_needed"] == stats.scenarios_needed(0.5, row["sd_diff"], 0.05)
    pairs = stats.compare_pairs(scores, n_perm=0).row(0, named=True)
    assert row["mdd"] == pytest.approx(pairs["mdd"])


# ---------------------------------------------------------------- judges


def test_krippendorff_matches_package_with_missing_values() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        truth = rng.integers(1, 6, 40)
        data = np.clip(truth + rng.integers(-1, 2, (3, 40)), 1, 5).astype(float)
        data[rng.random(data.shape) < 0.25] = np.nan
        for level, domain in (("ordinal", [1, 2, 3, 4, 5]), ("interval", None)):
            expected = krippendorff.alpha(
                reliability_data=data, level_of_measurement=level, value_domain=domain
            )
            assert krippendorff_alpha(data, level, domain) == pytest.approx(expected, abs=1e-12)


def test_judge_agreement_counts_only_shared_candidates() -> None:
    experiment = synthetic.generate(n_models=2, n_prompts=1, n_judges=3, seed=3)
    judgments = experiment.judgments
    dropped = judgments["candidate_id"].unique().sort()[:10]
    thinned = judgments.filter(
        ~(pl.col("candidate_id").is_in(dropped.implode()) & (pl.col("judge_id") != "judge-0"))
    )
    table = stats.judge_agreement(thinned)
    n_candidates = judgments["candidate_id"].n_unique()
    assert table["n_items"].to_list() == [n_candidates - 10] * 3
    assert table["n_judges"].to_list() == [3] * 3
    assert all(0.3 < a < 1 for a in table["alpha"])
    one_judge = stats.judge_agreement(judgments.filter(pl.col("judge_id") == "judge-0"))
    assert one_judge.height == 0
    assert one_judge.columns == ["dimension", "alpha", "n_items", "n_judges"]


def test_llm_vs_human_on_known_scores() -> None:
    _, _, human = _frames({("m", "v1"): [[8, 11, 14, 5]]})
    llm = human.with_columns(
        pl.lit("judge-llm").alias("judge_id"),
        pl.lit("llm").alias("judge_kind"),
        (pl.col("composite") + 1).alias("composite"),
    )
    table = stats.llm_vs_human(pl.concat([human, llm]))
    composite = table.filter(pl.col("dimension") == "composite").row(0, named=True)
    assert composite["n_items"] == 4
    assert composite["mean_diff"] == pytest.approx(1.0)
    assert composite["spearman"] == pytest.approx(1.0)
    data = np.array([[8, 11, 14, 5], [9, 12, 15, 6]], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="interval")
    assert composite["alpha"] == pytest.approx(expected)


# ---------------------------------------------------------------- length, speed, Pareto


def test_length_effect_finds_a_verbose_advantage() -> None:
    experiment = synthetic.generate(
        n_models=1, n_prompts=1, n_scenarios=40, n_tips=5, length_slope=2.0, seed=8
    )
    scores = stats.score_table(experiment.cells, experiment.candidates, experiment.judgments)
    row = stats.length_effect(scores).row(0, named=True)
    assert row["spearman"] > 0.3
    slope, *_ = np.polyfit(scores["char_count"].to_numpy(), scores["composite"].to_numpy(), 1)
    assert row["slope"] == pytest.approx(100 * slope)
    assert row["n"] == 200


def test_speed_by_model_and_pareto_front() -> None:
    experiment = synthetic.generate(n_models=3, n_prompts=2, n_scenarios=6, seed=2)
    speed = stats.speed_by_model(experiment.candidates, experiment.cells)
    joined = experiment.candidates.join(experiment.cells, on="cell_id")
    latencies = joined.filter(pl.col("model") == "model-01")["latency_s"].to_numpy()
    row = speed.filter(pl.col("model") == "model-01").row(0, named=True)
    assert row["latency_s_median"] == pytest.approx(np.median(latencies))
    assert row["latency_s_p95"] == pytest.approx(np.quantile(latencies, 0.95))
    assert row["load_s"] == pytest.approx(0.6)
    no_load = stats.speed_by_model(experiment.candidates, experiment.cells.drop("load_s"))
    assert no_load["load_s"].null_count() == 3

    board = pl.DataFrame(
        {
            "model": ["fast", "slow", "mid", "bad"],
            "prompt_version": ["v1"] * 4,
            "composite_mean": [10.0, 13.0, 11.0, 9.0],
        }
    )
    lat = pl.DataFrame(
        {"model": ["fast", "slow", "mid", "bad"], "latency_s_median": [0.5, 2.0, 1.0, 1.5]}
    )
    front = stats.pareto_front(board, lat)
    assert dict(zip(front["model"], front["pareto"], strict=True)) == {
        "fast": True,
        "slow": True,
        "mid": True,
        "bad": False,
    }


# ---------------------------------------------------------------- the synthetic truth


def test_synthetic_truth_is_the_expected_rounded_clipped_score() -> None:
    rng = np.random.default_rng(0)
    draws = np.clip(np.floor(rng.normal(3.4, 1.1, 400_000) + 0.5), 1, 5)
    assert synthetic.expected_score(3.4, 1.1) == pytest.approx(draws.mean(), abs=0.01)


def test_cell_intervals_stay_in_range_and_reach_further_away_from_the_ceiling() -> None:
    """The cell interval is Student's t on the logit of the mean's place in the range: inside
    the range, longer on the side away from a nearby bound, Student's t itself in the middle,
    a point without spread."""
    n, level = np.array([6.0, 6.0, 6.0, 1.0]), 0.95
    mean, sd = np.array([16.5, 9.5, 16.0, 12.0]), np.array([0.5, 0.5, 0.0, 0.0])
    lo, hi = intervals.bounded_t(mean, sd, n, level, 2.0, 17.0)
    assert 2 <= lo[0] < hi[0] <= 17 and hi[0] - mean[0] < mean[0] - lo[0]
    half = sps.t.ppf(0.975, 5) * 0.5 / np.sqrt(6)
    assert lo[1] == pytest.approx(9.5 - half, abs=0.01) and hi[1] == pytest.approx(
        9.5 + half, abs=0.01
    )
    assert (lo[2], hi[2]) == (16.0, 16.0)
    assert np.isnan(lo[3]) and np.isnan(hi[3])
    # Every scenario at the top of 1-5: Markov's bound, (mu - 1) / 4 >= 0.025^(1/n).
    lo, hi = intervals.bounded_t(np.array([5.0, 1.0]), np.zeros(2), np.full(2, 4.0), 0.95, 1, 5)
    assert lo[0] == pytest.approx(1 + 4 * 0.025**0.25) and hi[0] == 5
    assert lo[1] == 1 and hi[1] == pytest.approx(5 - 4 * 0.025**0.25)


def test_the_ceiling_generator_piles_scores_at_5_as_an_audit_saw_and_knows_its_truth() -> None:
    """``synthetic.CEILING`` with people harsh and lenient by 0.5: about 43% of relevance scores
    and 57% of tone are 5; each dimension's truth is still the exact expectation, and the
    default levels leave every draw as it was."""
    kwargs = {"n_judges": 3, "judge_biases": [-0.5, 0.0, 0.5], "effects": np.zeros((3, 2))}
    exp = synthetic.generate(3, 2, 12, 2, n_experiments=300, levels=synthetic.CEILING, **kwargs)
    at_ceiling = {d: float((exp.judgments[d] == 5).mean()) for d in synthetic.DIMENSIONS}
    assert at_ceiling["relevance"] == pytest.approx(0.43, abs=0.02)
    assert at_ceiling["tone"] == pytest.approx(0.57, abs=0.02)
    assert at_ceiling["actionability"] < at_ceiling["relevance"] < at_ceiling["tone"]
    # The truth per dimension against the draws' own means, pooled over the replicates' cells.
    truth = exp.truth.select(synthetic.DIMENSIONS).mean()
    drawn = exp.judgments.select(synthetic.DIMENSIONS).mean()
    for d in synthetic.DIMENSIONS:
        assert truth[d].item() == pytest.approx(drawn[d].item(), abs=0.02), d
    plain = synthetic.generate(3, 2, 12, 2, seed=4, n_judges=2)
    centred = synthetic.generate(3, 2, 12, 2, seed=4, n_judges=2, levels=synthetic.CENTRED)
    assert plain.judgments.equals(centred.judgments) and plain.truth.equals(centred.truth)


def test_intervals_stay_finite_when_resamples_collapse_onto_tied_scenarios():
    """Discrete scores and 6 scenarios: bootstrap-t can meet zero-spread resamples (t* = ±inf)."""
    from tipbench_lib import stats as _stats
    from tipbench_lib.validation import synthetic as _synthetic

    exp = _synthetic.generate(2, 3, 6, 2, n_judges=2, llm_judges=1, seed=7)
    scores = _stats.score_table(exp.cells, exp.candidates, exp.judgments)
    judged = _stats.judge_scores(exp.cells, exp.candidates, exp.judgments)
    pairs = _stats.compare_pairs(judged, n_boot=200, method="studentized")
    board = _stats.leaderboard(scores, n_boot=200, method="studentized")
    for frame, cols in ((pairs, ("diff_lo", "diff_hi")), (board, ("composite_lo", "composite_hi"))):
        for col in cols:
            values = frame[col].drop_nulls().to_numpy()
            assert np.isfinite(values).all(), col
    assert (pairs["diff_lo"] <= pairs["diff_mean"]).all()
    assert (pairs["diff_hi"] >= pairs["diff_mean"]).all()
