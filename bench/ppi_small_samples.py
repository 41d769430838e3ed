"""PPI with few people-scenarios: coverage, family-wise error, and what "worth N" really is.

Issue 18.4: PPI++ tuned its lambda on the same 4-6 people-scenarios it corrects, so its interval
was too narrow (coverage 1-2.5 points low, family-wise error above the people-only one) and
"worth N human cards" overstated the realised gain by up to 22%. :mod:`tipbench_lib.stats.ppi`
now takes the labelled part of its standard error from the jackknife over people-scenarios
(lambda tuned again without each), so lambda's own uncertainty is in the interval. This
benchmark runs the old rule (re-implemented here), the cross-fitted estimate that was the other
candidate (each scenario corrected with a lambda tuned without it) and the product's
:func:`tipbench_lib.stats.ppi_compare` on the same draws, side by side (docs/architecture.md
section 8, "LLM judge + people").

Experiment (:mod:`tipbench_lib.validation.judge_simulation`): 6 cells x 24 scenarios x 3 tips, 1-5
scores piled at the ceiling (43% of relevance and 57% of tone scores are 5s), the primary family
every cell against the baseline (5 comparisons). Two people, a harsh (-0.5) and a lenient (+0.5)
one: each labelled scenario is judged by one of them at random. The LLM judge scores every tip,
lenient by +0.8, with its own noise: ``good`` (sd 0.6, scenario-level correlation with the people
about 0.75) or ``weak`` (sd 2.5, about 0.4). People judge the first n scenarios of a random order
(the ``ppi-uniform`` design), n = 4, 6, 12. Designs: ``null`` (every cell equal: family-wise
error) and ``spread`` (cells 0.2 latent units apart: coverage and power).

Columns, per rule: coverage of the 95% intervals of the true people-scale difference; FWER (any
false better/worse in the family, null design) or power (share of comparisons decided, spread
design); "worth N" as reported (the effective number of human scenarios, median and mean over
runs; x6 is the "worth N human cards" of the report) against the realised one,
n x Var(people-only estimate) / Var(PPI estimate) over the runs.

Run: ``.venv/bin/python bench/ppi_small_samples.py [--replicates 2000] [--quick]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from tipbench_lib.stats.paired import holm
from tipbench_lib.stats.ppi import leave_one_out_lambdas, ppi_compare
from tipbench_lib.validation import judge_simulation as js

J = js.Judge
ALPHA = 0.05
BUDGETS = (4, 6, 12)
N_CELLS, N_SCENARIOS, N_TIPS = 6, 24, 3
LLM_JUDGES = {"good": 0.6, "weak": 2.5}
DESIGNS = {"null": 0.0, "spread": 0.2}
RULES = ("people", "old", "cross-fit", "new")


def old_rule(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> tuple[float, float, float]:
    """PPI++ before issue 18: lambda tuned on all labelled scenarios. (estimate, se, effective)."""
    n, big_n = len(y), len(yhat_u)
    spread = np.concatenate([yhat, yhat_u]).var(ddof=1)
    cov = np.cov(y, yhat, ddof=1)[0, 1]
    lam = 0.0 if spread <= 0 else float(np.clip(cov / ((1 + n / big_n) * spread), 0.0, 1.0))
    rectified = y - lam * yhat
    estimate = lam * yhat_u.mean() + rectified.mean()
    se = float(np.sqrt(lam**2 * yhat_u.var(ddof=1) / big_n + rectified.var(ddof=1) / n))
    effective = y.var(ddof=1) / se**2 if se > 0 else np.inf
    return float(estimate), se, float(effective)


def cross_fitted(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray) -> tuple[float, float, float]:
    """The candidate not chosen: scenario i corrected with lambda tuned without it."""
    n, big_n = len(y), len(yhat_u)
    lams = leave_one_out_lambdas(y, yhat, yhat_u) if n >= 3 else np.zeros(n)
    rectified = y - lams * yhat
    estimate = lams.mean() * yhat_u.mean() + rectified.mean()
    se = float(np.sqrt(lams.mean() ** 2 * yhat_u.var(ddof=1) / big_n + rectified.var(ddof=1) / n))
    effective = y.var(ddof=1) / se**2 if se > 0 else np.inf
    return float(estimate), se, float(effective)


def family(people: np.ndarray, llm: np.ndarray, rule: Callable) -> dict[str, np.ndarray]:
    """A bench-side rule over a family, with Holm and compare's verdict rule."""
    found = []
    for k in range(len(people)):
        labelled = ~np.isnan(people[k])
        found.append(rule(people[k, labelled], llm[k, labelled], llm[k, ~labelled]))
    estimate, se, effective = (np.array(v) for v in zip(*found, strict=True))
    df = int((~np.isnan(people[0])).sum()) - 1
    half = sps.t.ppf(1 - ALPHA / 2, df) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * sps.t.sf(np.abs(estimate) / se, df), (estimate == 0) * 1.0)
    decided = (holm(p) < ALPHA) & ((estimate - half > 0) | (estimate + half < 0))
    return {
        "estimate": estimate,
        "lo": estimate - half,
        "hi": estimate + half,
        "decided": decided,
        "effective": effective,
    }


def new_family(people: np.ndarray, llm: np.ndarray) -> dict[str, np.ndarray]:
    rows = ppi_compare(people, llm, ALPHA)
    return {
        "estimate": np.array([r["diff_ppi"] for r in rows]),
        "lo": np.array([r["lo_ppi"] for r in rows]),
        "hi": np.array([r["hi_ppi"] for r in rows]),
        "decided": np.array([r["verdict_ppi"] != "indistinguishable" for r in rows]),
        "effective": np.array([r["effective_human_scenarios"] for r in rows]),
        "people": np.array([r["diff_people"] for r in rows]),
        "people_lo": np.array([r["lo_people"] for r in rows]),
        "people_hi": np.array([r["hi_people"] for r in rows]),
        "people_decided": np.array([r["verdict_people"] != "indistinguishable" for r in rows]),
    }


@dataclass
class Tally:
    """Per rule, stacked over runs: (runs, comparisons) arrays."""

    estimate: list
    covered: list
    decided: list
    effective: list

    @classmethod
    def empty(cls) -> Tally:
        return cls([], [], [], [])

    def add(self, found: dict[str, np.ndarray], truth: np.ndarray, prefix: str = "") -> None:
        key = (lambda k: f"{prefix}_{k}") if prefix else (lambda k: k)
        estimate = found[prefix or "estimate"]
        self.estimate.append(estimate)
        self.covered.append((found[key("lo")] <= truth) & (truth <= found[key("hi")]))
        self.decided.append(found[key("decided")])
        self.effective.append(found.get("effective", np.full(len(truth), np.nan)))


def differences(data: js.Draw, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(runs, comparisons, scenarios) people's (one person per scenario, at random) and the LLM
    judge's paired differences of tip means, every cell against cell 0."""
    means = data.composite.mean(axis=3)  # runs, cells, scenarios, judges
    runs = means.shape[0]
    person = np.random.default_rng(seed).integers(0, 2, (runs, N_SCENARIOS))
    people = np.take_along_axis(means[..., :2], person[:, None, :, None], axis=3)[..., 0]
    llm = means[..., 2]
    return people[:, 1:] - people[:, :1], llm[:, 1:] - llm[:, :1]


def run(llm_sd: float, step: float, replicates: int, seed: int) -> dict[int, dict[str, Tally]]:
    judges = (J("harsh", bias=-0.5), J("kind", bias=0.5), J("llm", kind="llm", bias=0.8, sd=llm_sd))
    design = js.Design(
        judges,
        n_cells=N_CELLS,
        n_scenarios=N_SCENARIOS,
        n_tips=N_TIPS,
        cell_effects=tuple(step * np.arange(N_CELLS)),
    )
    truth_cells = js.people_truth(design)
    truth = truth_cells[1:] - truth_cells[0]
    people, llm = differences(js.draw(design, replicates, seed), seed + 1)
    rng = np.random.default_rng(seed + 2)
    out = {}
    for n in BUDGETS:
        tallies = {rule: Tally.empty() for rule in RULES}
        for r in range(replicates):
            labelled = rng.permutation(N_SCENARIOS)[:n]
            shown = np.full_like(people[r], np.nan)
            shown[:, labelled] = people[r][:, labelled]
            new = new_family(shown, llm[r])
            tallies["new"].add(new, truth)
            tallies["people"].add(new, truth, prefix="people")
            tallies["old"].add(family(shown, llm[r], old_rule), truth)
            tallies["cross-fit"].add(family(shown, llm[r], cross_fitted), truth)
        out[n] = tallies
    return out


def summary(tallies: dict[str, Tally], n: int, null: bool) -> dict[str, dict[str, float]]:
    people_var = np.var(np.array(tallies["people"].estimate), axis=0)
    rows = {}
    for rule, t in tallies.items():
        decided = np.array(t.decided)
        effective = np.array(t.effective)
        finite = effective[np.isfinite(effective)]
        realised = n * people_var / np.var(np.array(t.estimate), axis=0)
        rows[rule] = {
            "coverage": float(np.mean(t.covered)),
            "errors": float(decided.any(axis=1).mean() if null else decided.mean()),
            "reported median": float(np.median(effective)) if rule != "people" else n,
            "reported mean": float(finite.mean()) if finite.size and rule != "people" else n,
            "infinite": int((~np.isfinite(effective)).sum()) if rule != "people" else 0,
            "realised": float(np.mean(realised)),
            "overstated": float(np.mean(effective > 1.25 * realised)) if rule != "people" else 0,
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 replicates, for a smoke run")
    args = parser.parse_args()
    replicates = 200 if args.quick else args.replicates
    start = time.perf_counter()
    print(
        f"{replicates} runs per row; {N_CELLS} cells x {N_SCENARIOS} scenarios x {N_TIPS} tips, "
        f"every cell against the baseline ({N_CELLS - 1} comparisons); alpha {ALPHA}\n"
        "worth N: effective human scenarios (x6 = human cards) as reported (median, mean, share of "
        "runs reporting over 1.25x the realised) and realised; FWER (null) or power (spread)\n"
    )
    print(
        f"{'LLM judge':<10} {'design':<7} {'n':>3} {'rule':<10} {'coverage':>8} "
        f"{'FWER/power':>10} | {'worth N reported: median':>24} {'mean':>6} {'>1.25x':>7} | "
        f"{'realised':>8}"
    )
    for i, (judge, sd) in enumerate(LLM_JUDGES.items()):
        for k, (name, step) in enumerate(DESIGNS.items()):
            found = run(sd, step, replicates, seed=1000 * i + 10 * k)
            for n, tallies in found.items():
                row = summary(tallies, n, null=step == 0)
                for rule in RULES:
                    r = row[rule]
                    note = f"  ({r['infinite']} comparisons with se 0)" if r["infinite"] else ""
                    print(
                        f"{judge:<10} {name:<7} {n:>3} {rule:<10} {r['coverage']:>8.3f} "
                        f"{r['errors']:>10.3f} | {r['reported median']:>24.1f} "
                        f"{r['reported mean']:>6.1f} {r['overstated']:>7.0%} | "
                        f"{r['realised']:>8.1f}{note}"
                    )
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
