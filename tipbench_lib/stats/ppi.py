"""Prediction-powered inference: an LLM judge on every scenario, people on a random subset.

People's scores are what a verdict should rest on, but they are expensive; an LLM judge is cheap
but biased and noisy. Prediction-powered inference (Angelopoulos, Bates, Fannjiang, Jordan and
Zrnic, Science 2023) uses the LLM's scores everywhere and corrects them with the people's scores
where both exist; PPI++ (Angelopoulos, Duchi and Zrnic 2023) scales the LLM's part by a tuned
lambda so the result is, for large samples, never worse than the people's scores alone.

**Per comparison a - b,** on scenario-level paired differences (:mod:`.pairs`): ``y`` the people's
difference in the n scenarios they judged (the labelled set), ``yhat`` the LLM judge's difference
in those scenarios, ``yhat_u`` the LLM judge's in the N other scenarios. PPI++ with a fixed
lambda is::

    theta  = lambda mean(yhat_u) + mean(y - lambda yhat)
    se^2   = lambda^2 var(yhat_u) / N + var(y - lambda yhat) / n

and ``ppi-python``'s ``ppi_mean_ci`` tunes lambda on the same data:
``clip(cov(y, yhat) / ((1 + n/N) var(yhat, yhat_u)), 0, 1)``. So does this module, but with
the 4-12 people-scenarios of a small experiment that lambda fits the noise of the very
scenarios it corrects, and the fixed-lambda ``se`` above, blind to that, came out too small:
coverage fell to 0.93 and an LLM judge unrelated to the people was reported as worth more human
scenarios than were judged (issue 18.4). The labelled part of the variance is therefore the
**jackknife** over the people-scenarios: each left out in turn, lambda tuned again on the others
and the estimate recomputed, so lambda's own uncertainty is in the interval::

    theta_(k) = lambda_(k) mean(yhat_u) + mean over i != k of (y_i - lambda_(k) yhat_i)
    se^2      = (n - 1)/n sum_k (theta_(k) - mean theta_(.))^2 + lambda^2 var(yhat_u) / N

For a fixed lambda the jackknife term is exactly ``var(y - lambda yhat) / n``. Variances use
n - 1, the quantile and p-value Student's t with n - 1 degrees of freedom. Tuning needs 3
people-scenarios or more (each left-out fit needs two); with 2, lambda is 0: the people alone.
A cross-fitted estimate (each scenario corrected with a lambda tuned without it) was the other
candidate: as well covered, but a noisier estimate whose "worth N" overstated its realised gain
by 10-45% at 4 scenarios. ``bench/ppi_small_samples.py`` measures coverage, family-wise error
and the reported against the realised gain at 4, 6 and 12 people-scenarios (docs/architecture.md
section 8, "LLM judge + people"). lambda = 0 gives the people-only mean and its t interval,
which is reported beside it. The *effective number of human scenarios* is how many the people
alone would need for the same standard error, ``var(y) / se^2``; times the cards per scenario
it is the effective number of human cards.

**Random subset, or no PPI.** The correction is unbiased only if the labelled scenarios are a
uniform random sample of the experiment's scenarios, drawn before any score was seen, and with a
size that does not depend on the scores. The queue's ``ppi-uniform`` order draws them: one
seeded permutation of the scenarios for the experiment (:func:`ppi_design`), whole scenarios
taken in that order. :func:`check_ppi_sample` refuses PPI unless the scenarios people judged are
exactly the first k of that permutation.

**Family.** The p-values of the primary family are Holm-adjusted as in
:func:`tipbench_lib.stats.compare_pairs`; a verdict is ``better``/``worse`` when the adjusted
p-value is below alpha and the (1 - alpha) interval excludes 0, else ``indistinguishable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.adaptive import scenario_order
from tipbench_lib.stats.paired import holm

PPI_ORDER = "ppi-uniform"


@dataclass(frozen=True)
class PPIResult:
    """One comparison's PPI++ and people-only estimates (composite points)."""

    estimate: float
    lo: float
    hi: float
    p_value: float
    se: float
    lam: float
    n_labelled: int
    n_unlabelled: int
    effective_scenarios: float
    people_estimate: float
    people_lo: float
    people_hi: float
    people_p_value: float
    people_se: float


def ppi_mean(
    y: np.ndarray,
    yhat: np.ndarray,
    yhat_unlabelled: np.ndarray,
    alpha: float = 0.05,
    lam: float | None = None,
) -> PPIResult:
    """PPI++ mean of ``y`` from its LLM predictions ``yhat`` and the unlabelled ``yhat_u``.

    ``lam`` None tunes it, with the jackknife variance (module docstring); 0 is the people
    alone, 1 plain PPI.
    """
    y, yhat = np.asarray(y, dtype=float), np.asarray(yhat, dtype=float)
    yhat_u = np.asarray(yhat_unlabelled, dtype=float)
    n, big_n = len(y), len(yhat_u)
    if len(yhat) != n:
        raise TipbenchError(
            "people's and the LLM judge's differences must cover the same scenarios"
        )
    if n < 2:
        raise TipbenchError(
            f"PPI needs people's scores on at least 2 scenarios of the comparison, got {n}"
        )
    tuned = lam is None and big_n > 0 and n >= 3
    if big_n == 0 or (lam is None and not tuned):
        lam = 0.0
    if tuned:
        lam = float(tuned_lambda(y, yhat, yhat_u))
    rectified = y - lam * yhat
    estimate = (lam * yhat_u.mean() if big_n else 0.0) + rectified.mean()
    labelled = jackknife_variance(y, yhat, yhat_u) if tuned else rectified.var(ddof=1) / n
    imputed = lam**2 * yhat_u.var(ddof=1) / big_n if big_n > 1 else 0.0
    se = float(np.sqrt(imputed + labelled))
    lo, hi, p = _t_interval(estimate, se, n - 1, alpha)
    people_se = float(y.std(ddof=1) / np.sqrt(n))
    people_lo, people_hi, people_p = _t_interval(float(y.mean()), people_se, n - 1, alpha)
    effective = float(y.var(ddof=1) / se**2) if se > 0 else float("inf")
    return PPIResult(
        float(estimate),
        lo,
        hi,
        p,
        se,
        float(lam),
        n,
        big_n,
        effective,
        float(y.mean()),
        people_lo,
        people_hi,
        people_p,
        people_se,
    )


def tuned_lambda(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> float:
    """PPI++'s lambda: ``clip(cov(y, yhat) / ((1 + n/N) var(yhat, yhat_u)), 0, 1)``."""
    n, big_n = len(y), len(yhat_u)
    spread = np.concatenate([yhat, yhat_u]).var(ddof=1)
    cov = np.cov(y, yhat, ddof=1)[0, 1]
    return 0.0 if spread <= 0 else float(np.clip(cov / ((1 + n / big_n) * spread), 0.0, 1.0))


def leave_one_out_lambdas(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> np.ndarray:
    """Per labelled scenario k, :func:`tuned_lambda` over the n - 1 others (and every
    unlabelled scenario), vectorised; needs n >= 3."""
    n, big_n = len(y), len(yhat_u)
    m = n - 1
    # Leave-one-out sums: each statistic over the labelled scenarios minus scenario k's part.
    sy, sh, syh = y.sum() - y, yhat.sum() - yhat, (y * yhat).sum() - y * yhat
    cov = (syh - sy * sh / m) / (m - 1)
    pooled_sum = sh + yhat_u.sum()
    pooled_sq = (yhat * yhat).sum() - yhat * yhat + (yhat_u * yhat_u).sum()
    count = m + big_n
    spread = (pooled_sq - pooled_sum**2 / count) / (count - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lams = np.where(spread > 1e-12, cov / ((1 + m / big_n) * spread), 0.0)
    return np.clip(np.nan_to_num(lams), 0.0, 1.0)


def jackknife_variance(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> float:
    """Jackknife variance of the tuned PPI++ estimate over the labelled scenarios, lambda
    tuned again without each one (module docstring)."""
    n = len(y)
    lams = leave_one_out_lambdas(y, yhat, yhat_u)
    rest = ((y.sum() - y) - lams * (yhat.sum() - yhat)) / (n - 1)
    estimates = lams * yhat_u.mean() + rest
    return float((n - 1) / n * ((estimates - estimates.mean()) ** 2).sum())


def _t_interval(estimate: float, se: float, df: int, alpha: float) -> tuple[float, float, float]:
    if se <= 0:
        return estimate, estimate, (1.0 if estimate == 0 else 0.0)
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    p = float(2 * sps.t.sf(abs(estimate) / se, df))
    return float(estimate - half), float(estimate + half), p


@dataclass(frozen=True)
class PPIDesign:
    """The record of a ``ppi-uniform`` sampling design: what the queue journals once."""

    seed: int
    population: tuple[str, ...]
    """Every scenario id of the experiment, sorted: the population the sample is drawn from."""
    order: str = PPI_ORDER

    def permutation(self) -> list[str]:
        """The scenarios in the order people judge them."""
        return [self.population[int(i)] for i in scenario_order(len(self.population), self.seed)]

    def as_record(self) -> dict[str, Any]:
        return {
            "type": "sampling",
            "order": self.order,
            "seed": self.seed,
            "population": list(self.population),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PPIDesign:
        try:
            return cls(
                int(record["seed"]),
                tuple(str(s) for s in record["population"]),
                str(record.get("order", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TipbenchError(
                f"the sampling record lacks or garbles {exc}; PPI needs the record the "
                "ppi-uniform queue wrote (seed and population)"
            ) from None


def ppi_design(scenarios: Iterable[str], seed: int) -> PPIDesign:
    """The ``ppi-uniform`` design over an experiment's scenarios (the queue's order uses the
    same seeded permutation: :meth:`tipbench_lib.stats.adaptive.QueueState.next_ppi`)."""
    return PPIDesign(seed, tuple(sorted({str(s) for s in scenarios})))


def check_ppi_sample(
    design: PPIDesign | Mapping[str, Any] | None,
    people_scenarios: Iterable[str],
    scenarios: Iterable[str],
) -> None:
    """Refuse PPI unless people's scenarios are a prefix of the recorded random order.

    ``people_scenarios``: scenarios where any person scored a tip; ``scenarios``: all of the
    experiment's. The message names what is wrong and what to do instead.
    """
    if design is None:
        raise TipbenchError(
            "PPI needs people's scenarios drawn at random, and no ppi-uniform sampling record "
            "exists for this experiment; judge with --order ppi-uniform, or compare people "
            "and the LLM judge as separate views"
        )
    if not isinstance(design, PPIDesign):
        design = PPIDesign.from_record(design)
    if design.order != PPI_ORDER:
        raise TipbenchError(
            f"the sampling record is for order {design.order!r}, not {PPI_ORDER!r}; PPI "
            "needs scenarios drawn uniformly at random"
        )
    population = set(design.population)
    if population != {str(s) for s in scenarios}:
        raise TipbenchError(
            "the sampling record's scenarios are not this experiment's; PPI needs the record "
            "written for these scenarios"
        )
    judged = {str(s) for s in people_scenarios}
    prefix = design.permutation()[: len(judged)]
    outside = sorted(judged - set(prefix))
    if outside:
        shown = ", ".join(outside[:5]) + (" ..." if len(outside) > 5 else "")
        raise TipbenchError(
            f"people judged scenario(s) {shown} outside the random order's first "
            f"{len(judged)}, so their subset is not a uniform random sample and PPI would be "
            "biased; use the people-only and LLM-only views instead"
        )


def ppi_compare(
    people: np.ndarray,
    llm: np.ndarray,
    alpha: float = 0.05,
    cards_per_scenario: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """PPI++ beside people-only for a family of comparisons.

    ``people`` and ``llm`` are (comparisons, scenarios) paired differences, NaN where missing
    (people: the scenarios they did not judge; the LLM judge should have them all). Returns one
    row per comparison with both results, Holm-adjusted p-values and verdicts.
    """
    people, llm = np.atleast_2d(people), np.atleast_2d(llm)
    results = []
    for k in range(len(people)):
        labelled = ~np.isnan(people[k]) & ~np.isnan(llm[k])
        unlabelled = np.isnan(people[k]) & ~np.isnan(llm[k])
        results.append(ppi_mean(people[k, labelled], llm[k, labelled], llm[k, unlabelled], alpha))
    p_ppi = holm(np.array([r.p_value for r in results]))
    p_people = holm(np.array([r.people_p_value for r in results]))
    rows = []
    for k, r in enumerate(results):
        cards = cards_per_scenario[k] if cards_per_scenario is not None else float("nan")
        rows.append(
            {
                **_side("ppi", r.estimate, r.lo, r.hi, r.p_value, float(p_ppi[k]), alpha),
                "lambda": r.lam,
                "n_human_scenarios": r.n_labelled,
                "n_llm_only_scenarios": r.n_unlabelled,
                "effective_human_scenarios": r.effective_scenarios,
                "effective_human_cards": r.effective_scenarios * cards,
                **_side(
                    "people",
                    r.people_estimate,
                    r.people_lo,
                    r.people_hi,
                    r.people_p_value,
                    float(p_people[k]),
                    alpha,
                ),
            }
        )
    return rows


def _side(
    name: str, estimate: float, lo: float, hi: float, p: float, p_holm: float, alpha: float
) -> dict[str, Any]:
    """One side's columns of a comparison row (``_ppi`` or ``_people``), with its verdict."""
    return {
        f"diff_{name}": estimate,
        f"lo_{name}": lo,
        f"hi_{name}": hi,
        f"p_{name}": p,
        f"p_holm_{name}": p_holm,
        f"verdict_{name}": _verdict(p_holm, lo, hi, alpha),
    }


def _verdict(p_holm: float, lo: float, hi: float, alpha: float) -> str:
    if p_holm < alpha and lo > 0:
        return "better"
    if p_holm < alpha and hi < 0:
        return "worse"
    return "indistinguishable"
