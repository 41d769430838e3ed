"""Prediction-powered inference, its sampling check, judge calibration (issue 11)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats import calibration, ppi
from tipbench_lib.validation import synthetic


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(1.0, 2.0, 24)
    llm = truth + 0.8 + rng.normal(0, 1.0, 24)  # biased, correlated
    return truth[:10], llm[:10], llm[10:]


def test_lambda_zero_is_the_people_alone() -> None:
    y, yhat, yhat_u = _data()
    res = ppi.ppi_mean(y, yhat, yhat_u, alpha=0.1, lam=0.0)
    half = sps.t.ppf(0.95, 9) * y.std(ddof=1) / np.sqrt(10)
    assert res.estimate == pytest.approx(y.mean())
    assert (res.lo, res.hi) == pytest.approx((y.mean() - half, y.mean() + half))
    assert (res.people_lo, res.people_hi) == pytest.approx((res.lo, res.hi))
    assert res.effective_scenarios == pytest.approx(10)


def _tuned(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> float:
    pooled = np.concatenate([yhat, yhat_u])
    raw = np.cov(y, yhat)[0, 1] / ((1 + len(y) / len(yhat_u)) * pooled.var(ddof=1))
    return float(np.clip(raw, 0, 1))


def test_ppi_by_the_formula_with_tuned_lambda_and_its_jackknife() -> None:
    y, yhat, yhat_u = _data()
    res = ppi.ppi_mean(y, yhat, yhat_u)
    n, big_n = 10, 14
    assert res.lam == pytest.approx(_tuned(y, yhat, yhat_u))
    expected = res.lam * yhat_u.mean() + (y - res.lam * yhat).mean()
    assert res.estimate == pytest.approx(expected)
    left_out = []
    for k in range(n):  # scenario k left out, lambda tuned again on the other nine
        keep = np.arange(n) != k
        lam = _tuned(y[keep], yhat[keep], yhat_u)
        left_out.append(lam * yhat_u.mean() + (y[keep] - lam * yhat[keep]).mean())
    left_out = np.array(left_out)
    jackknife = (n - 1) / n * ((left_out - left_out.mean()) ** 2).sum()
    se = np.sqrt(res.lam**2 * yhat_u.var(ddof=1) / big_n + jackknife)
    assert res.se == pytest.approx(se)
    assert res.se < res.people_se and res.effective_scenarios > n
    # The LLM judge's bias of 0.8 does not pass into the estimate: it is corrected.
    assert abs(res.estimate - y.mean()) < 0.8


def test_a_fixed_lambda_needs_no_jackknife() -> None:
    y, yhat, yhat_u = _data()
    res = ppi.ppi_mean(y, yhat, yhat_u, lam=0.5)
    se = np.sqrt(0.25 * yhat_u.var(ddof=1) / 14 + (y - 0.5 * yhat).var(ddof=1) / 10)
    assert res.lam == 0.5 and res.se == pytest.approx(se)


def test_with_two_people_scenarios_no_lambda_can_be_tuned() -> None:
    y, yhat, yhat_u = _data()
    res = ppi.ppi_mean(y[:2], yhat[:2], yhat_u)
    assert res.lam == 0 and res.estimate == pytest.approx(y[:2].mean())
    assert res.effective_scenarios == pytest.approx(2)


def test_an_unrelated_llm_judge_gets_lambda_near_zero() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, 200)
    res = ppi.ppi_mean(y[:100], rng.normal(0, 1, 100), rng.normal(0, 1, 100))
    assert res.lam < 0.2
    # tuning λ on noise costs a little precision, and the jackknife says so (issue 18.4)
    assert res.people_se < res.se <= res.people_se * 1.05


def test_too_few_people_scenarios_is_an_error() -> None:
    with pytest.raises(TipbenchError, match="at least 2 scenarios"):
        ppi.ppi_mean(np.array([1.0]), np.array([1.0]), np.zeros(5))


def test_the_sample_must_be_a_prefix_of_the_recorded_random_order() -> None:
    scenarios = [f"s{i:02d}" for i in range(12)]
    design = ppi.ppi_design(reversed(scenarios), seed=8)
    order = design.permutation()
    assert sorted(order) == scenarios and order != scenarios
    ppi.check_ppi_sample(design.as_record(), order[:5], scenarios)
    with pytest.raises(TipbenchError, match=f"{order[5]} outside the random order's first 5"):
        ppi.check_ppi_sample(design, [*order[:4], order[5]], scenarios)
    with pytest.raises(TipbenchError, match="no ppi-uniform sampling record"):
        ppi.check_ppi_sample(None, order[:5], scenarios)
    with pytest.raises(TipbenchError, match="not this experiment's"):
        ppi.check_ppi_sample(design, order[:5], scenarios[:-1])
    record = design.as_record() | {"order": "adaptive"}
    with pytest.raises(TipbenchError, match="order 'adaptive'"):
        ppi.check_ppi_sample(record, order[:5], scenarios)
    with pytest.raises(TipbenchError, match="seed"):
        ppi.check_ppi_sample({"population": scenarios}, order[:5], scenarios)


def test_family_rows_are_holm_adjusted() -> None:
    rng = np.random.default_rng(1)
    people = rng.normal([[3.0], [0.0], [0.0]], 1.0, (3, 24))
    llm = people + rng.normal(0.5, 0.7, (3, 24))
    people[:, 12:] = np.nan
    rows = ppi.ppi_compare(people, llm, cards_per_scenario=[12, 12, 12])
    assert rows[0]["verdict_ppi"] == "better" and rows[0]["verdict_people"] == "better"
    raw = np.array([r["p_ppi"] for r in rows])
    assert (
        max(r["p_holm_ppi"] for r in rows) <= 1
        and (np.array([r["p_holm_ppi"] for r in rows]) >= raw).all()
    )
    assert rows[1]["n_human_scenarios"] == 12 and rows[1]["n_llm_only_scenarios"] == 12
    assert rows[1]["effective_human_cards"] == pytest.approx(
        rows[1]["effective_human_scenarios"] * 12
    )


# ---------------------------------------------------------------- calibration


def _experiment(llm_bias: float) -> synthetic.SyntheticExperiment:
    return synthetic.generate(
        n_models=2,
        n_prompts=2,
        n_scenarios=10,
        n_tips=3,
        n_judges=3,
        llm_judges=1,
        judge_biases=(0.0, 0.0, llm_bias),
        judge_sds=(0.3, 0.3, 0.8),
        seed=3,
    )


def test_calibration_shows_the_llm_judges_bias_per_dimension() -> None:
    fair, kind = (calibration.llm_calibration(_experiment(b).judgments) for b in (0.0, 0.8))
    assert fair["judge_id"].unique().to_list() == ["judge-2"]
    assert fair["dimension"].to_list() == ["relevance", "actionability", "tone", "composite"]
    assert (kind["mean_bias"] > fair["mean_bias"] + 0.4).all()
    assert (fair["spearman"] > 0.3).all()
    people_only = _experiment(0.0).judgments.filter(pl.col("judge_kind") == "human")
    assert calibration.llm_calibration(people_only).height == 0


def test_length_slopes_name_each_judges_kind() -> None:
    exp = _experiment(0.0)
    slopes = calibration.length_slopes(exp.cells, exp.candidates, exp.judgments)
    assert slopes["judge_id"].to_list() == ["judge-0", "judge-1", "judge-2"]
    assert slopes["kind"].to_list() == ["human", "human", "llm"]
    assert slopes["gamma"].is_not_null().all()


def test_a_noisier_judge_agrees_less() -> None:
    exp = synthetic.generate(
        n_scenarios=12, n_judges=3, judge_sds=(0.3, 0.3, 2.0), judge_biases=(0, 0, 0), seed=1
    )
    wide = exp.judgments.pivot(on="judge_id", index="candidate_id", values="composite")
    same = np.corrcoef(wide["judge-0"], wide["judge-1"])[0, 1]
    noisy = np.corrcoef(wide["judge-0"], wide["judge-2"])[0, 1]
    assert noisy < same - 0.2
    default = synthetic.generate(n_scenarios=12, n_judges=2, seed=1)
    explicit = synthetic.generate(n_scenarios=12, n_judges=2, judge_sds=(0.3, 0.3), seed=1)
    assert default.truth.equals(explicit.truth)
    assert default.judge_truth.equals(explicit.judge_truth)


# ---------------------------------------------------------------- small samples (issue 18.4)


def _coverage_and_gain(n: int, rho: float, replicates: int, seed: int) -> tuple[float, float]:
    """PPI on n people-scenarios of 24 (the LLM judge on all), scenario differences normal with
    mean 0 and the LLM judge correlated rho with the people: (coverage of the 95% interval,
    mean reported effective number of human scenarios)."""
    rng = np.random.default_rng(seed)
    covered, effective = 0, 0.0
    for _ in range(replicates):
        z = rng.normal(size=(2, 24))
        y, yhat = z[0], rho * z[0] + np.sqrt(1 - rho**2) * z[1]
        res = ppi.ppi_mean(y[:n], yhat[:n], yhat[n:])
        covered += res.lo <= 0 <= res.hi
        effective += res.effective_scenarios
    return covered / replicates, effective / replicates


def test_ppi_keeps_its_coverage_with_four_people_scenarios() -> None:
    """λ tuned on the same four scenarios it corrects fits their noise: the interval was too
    narrow (coverage 0.934). The jackknife re-tunes λ without each scenario, so λ's own
    uncertainty is in the interval."""
    coverage, _ = _coverage_and_gain(4, 0.0, 20_000, seed=7)
    assert coverage >= 0.94


def test_an_llm_judge_that_knows_nothing_is_worth_no_human_scenarios() -> None:
    """With an LLM judge unrelated to the people, PPI cannot save a single human card; the
    reported 'worth N human cards' must not say it does (it said 4.8 scenarios for 4, 6.6
    for 6)."""
    for n in (4, 6):
        _, effective = _coverage_and_gain(n, 0.0, 4_000, seed=n)
        assert effective <= n
