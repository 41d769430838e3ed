"""Adaptive judging against today's uniform order, and PPI against people alone, on a known truth.

The experiment (a researcher's case, stated in full in the output): 3 models x 3 prompts x 24
scenarios x 3 tips; one prompt of one model is 2 composite points better (expected, over the
people), every other cell equal; discrete 1-5 scores with ties from
:mod:`tipbench_lib.synthetic`'s generative model; one person, or three people with latent biases
-0.4, 0 and +0.4 who take turns judging 6 cards of their own queue. Primary family: every cell
against a baseline named before judging (8 comparisons), or all pairs (36). delta = 1 point.

Part 1, the queue (:mod:`tipbench_lib.stats.adaptive`, PrPl-EB sequences at alpha / m): per
design and order, over the runs: cards judged until the queue says stop (every comparison decided
or out of scenarios), the share of runs where every comparison was *decided*, the true
difference found (``better``), the family-wise rate of a false better/worse, wrong
``equivalent``, the time-uniform coverage (truth inside the running intersection at every step:
per comparison, and for the whole family at once), the sequences' final half-width, and the
milliseconds a ``next_cards`` call takes.

Part 2: why the sequences decide what they decide at this size: the half-width floor of PrPl-EB
on the rubric's range, the half-width predicted from the observed spread, and the scenarios the
sequence would need; beside them a fixed-sample Bonferroni t interval for scale.

Part 3, PPI (:mod:`tipbench_lib.stats.ppi`): an LLM judge (bias +0.3, noise set so its tip
composites correlate 0.6 with a person's) scored every candidate; people judge whole scenarios
in a random order. Per human budget: mean width of the PPI++ and the people-only 95% intervals
of the primary comparisons and their coverage; then the human cards PPI needs for the width
people alone reach with 8, 12 and 16 scenarios (target <= 0.6x).

Run: ``.venv/bin/python bench/adaptive_judging.py [--runs 500] [--quick]``
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np
from scipy import stats as sps

from tipbench_lib.stats import adaptive, anytime
from tipbench_lib.stats import queue_simulation as qs
from tipbench_lib.stats.scale import scale_for

ALPHA = 0.05
BUDGETS = (4, 6, 8, 10, 12, 16, 20, 24)


def fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def queue_table(runs: int) -> dict[str, float]:
    print("\nPart 1: the queue (PrPl-EB at alpha/m, delta = 1 point)")
    header = (
        f"{'people':>6} {'family':>9} {'order':>9} {'cards':>7} {'ratio':>6} {'all dec.':>8} "
        f"{'found':>6} {'FWER':>6} {'eq.err':>6} {'cov.cmp':>7} {'cov.fam':>7} "
        f"{'halfw.':>6} {'ms/call':>7} {'sec':>6}"
    )
    print(header)
    ratios = {}
    for people in ((0.0,), qs.PEOPLE_BIASES):
        for baseline in ((0, 0), None):
            exp = qs.Experiment(people_biases=people, baseline=baseline)
            data = qs.draw(exp, runs, seed=11 + len(people) + (baseline is None))
            cards = {}
            for order in ("adaptive", "uniform"):
                start = time.perf_counter()
                results = [qs.queue_run(data, r, order, seed=r) for r in range(runs)]
                seconds = time.perf_counter() - start
                cards[order] = np.array([r.cards for r in results], dtype=float)
                truth = data.truth[data.design.a] - data.truth[data.design.b]
                better = np.flatnonzero(truth > 0) if (truth > 0).any() else []
                found = np.mean([all(r.decisions[k] == "better" for k in better) for r in results])
                decided = np.mean(
                    [all(d in adaptive.DECIDED for d in r.decisions) for r in results]
                )
                covered = np.array([r.covered for r in results])
                latency = call_latency(data, order)
                ratio = (
                    cards["adaptive"].mean() / cards["uniform"].mean()
                    if order == "uniform"
                    else math.nan
                )
                print(
                    f"{len(people):>6} {'baseline' if baseline else 'all pairs':>9} {order:>9} "
                    f"{np.median(cards[order]):>7.0f} {fmt(ratio, 2):>6} {fmt(decided, 2):>8} "
                    f"{fmt(found, 2):>6} {fmt(np.mean([r.false_call for r in results])):>6} "
                    f"{fmt(np.mean([r.wrong_equivalent for r in results])):>6} "
                    f"{fmt(covered.mean()):>7} {fmt(covered.all(axis=1).mean()):>7} "
                    f"{fmt(np.median([np.median(r.halfwidth) for r in results]), 1):>6} "
                    f"{fmt(latency, 2):>7} {seconds:>6.1f}",
                    flush=True,
                )
            ratios[f"{len(people)}|{baseline}"] = cards["adaptive"].mean() / cards["uniform"].mean()
    print(
        "ratio: mean cards adaptive / mean cards uniform (target <= 0.5); "
        "all dec.: share of runs with every primary comparison decided; found: the +2 cell "
        "called better in every comparison it is in; FWER: any false better/worse; eq.err: any "
        "equivalent where |truth| >= delta; cov.cmp/cov.fam: truth inside the running sequence "
        "at every step, per comparison / all of the family at once; halfw.: median final "
        "half-width (points); ms/call: median next_cards call after a score."
    )
    return ratios


def call_latency(data: qs.Draw, order: str, cards: int = 200) -> float:
    """Median milliseconds of ``next_cards(state, person, 1)`` after each score, one person."""
    state = adaptive.QueueState(data.design, alpha=ALPHA)
    uniform = sorted(data.design.where) if order == "uniform" else None
    state.add_judge("p", seed=1, uniform_order=uniform)
    times = []
    for _ in range(cards):
        start = time.perf_counter()
        nxt = adaptive.next_cards(state, "p", 1, order)
        times.append(time.perf_counter() - start)
        if not nxt:
            break
        cell, scenario = data.design.where[nxt[0]]
        tip = int(nxt[0].rsplit("/", 1)[1])
        state.record("p", nxt[0], float(data.scores[0, cell, scenario, tip, 0]))
    return float(np.median(times) * 1000)


def floor_table() -> None:
    print("\nPart 2: what decides at 24 scenarios (composite points; range of a difference ±15)")
    exp = qs.Experiment(people_biases=(0.0,))
    data = qs.draw(exp, 200, seed=5)
    replicates, n_scenarios = data.scores.shape[0], data.scores.shape[2]
    diffs = qs.scenario_differences(data, np.zeros((replicates, n_scenarios), dtype=np.int64))
    sd = float(np.std(diffs, axis=2, ddof=1).mean())
    width = scale_for([]).width
    print(f"spread of a comparison's scenario differences (sd): {sd:.2f} points")
    print(
        f"{'family':>9} {'m':>3} {'level':>8} {'floor@24':>8} {'pred.hw@24':>10} "
        f"{'n for 2 pts':>11} {'n for equiv.':>12} {'t-Bonf hw@24':>12}"
    )
    for m in (8, 36):
        level = ALPHA / m
        design = qs.design_of(replace(exp, baseline=(0, 0) if m == 8 else None))
        state = adaptive.QueueState(design, alpha=ALPHA)
        steps = np.arange(1, 5001)
        half = state.predicted_halfwidth(np.full(len(steps), sd / (2 * width)), steps)
        need_better = int(steps[np.argmax(half < 2.0)]) if (half < 2.0).any() else -1
        need_equiv = int(steps[np.argmax(half < 1.0)]) if (half < 1.0).any() else -1
        t_half = sps.t.ppf(1 - level / 2, 23) * sd / math.sqrt(24)
        print(
            f"{'baseline' if m == 8 else 'all pairs':>9} {m:>3} {level:>8.5f} "
            f"{anytime.floor_points(24, width, level):>8.1f} {half[23]:>10.1f} "
            f"{need_better:>11} {need_equiv:>12} {t_half:>12.2f}"
        )
    print(
        "floor@24: the half-width PrPl-EB reaches at 24 scenarios even with no spread at all; "
        "pred.hw@24: with the observed spread; n for 2 pts / equiv.: scenarios before the "
        "predicted half-width is below 2 points (the true difference) / below delta = 1 (an "
        "equal pair's equivalence); t-Bonf hw@24: a fixed-sample t interval at the same level."
    )


def ppi_table(runs: int) -> dict[str, float]:
    print("\nPart 3: PPI++ (LLM judge on every candidate) against people alone")
    exp = qs.Experiment()
    llm_sd = qs.llm_sd_for(0.6, exp)
    data = qs.draw(replace(exp, llm_sd=llm_sd), runs, seed=21)
    widths = qs.ppi_widths(data, BUDGETS, ALPHA, seed=3)
    print(
        f"LLM judge: bias +{exp.llm_bias:g}, per-dimension noise sd {llm_sd:.2f} (people 0.3); "
        f"correlation with a person: tips {widths.tip_correlation:.2f}, scenario differences "
        f"{widths.scenario_correlation:.2f}; {runs} runs x {len(data.design.a)} comparisons"
    )
    print(
        f"{'human scen.':>11} {'cards':>6} {'PPI width':>9} {'people w.':>9} {'PPI cov.':>8} "
        f"{'people cov.':>11} {'lambda':>6}"
    )
    per_scenario = exp.n_cells * exp.n_tips
    for i, n in enumerate(BUDGETS):
        print(
            f"{n:>11} {n * per_scenario:>6} {widths.ppi_width[i]:>9.2f} "
            f"{widths.people_width[i]:>9.2f} {widths.ppi_coverage[i]:>8.3f} "
            f"{widths.people_coverage[i]:>11.3f} {widths.lam[i]:>6.2f}"
        )
    ratios = {}
    for ref in (8, 12, 16):
        target = float(widths.people_width[BUDGETS.index(ref)])
        needed = qs.cards_for_width(BUDGETS, widths.ppi_width, target)
        ratios[ref] = needed / ref
        print(
            f"people alone with {ref} scenarios ({ref * per_scenario} cards): width "
            f"{target:.2f}; PPI reaches it with {fmt(needed, 1)} scenarios "
            f"({fmt(needed * per_scenario, 0)} cards): {fmt(needed / ref, 2)}x (target <= 0.6)"
        )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="50 runs")
    args = parser.parse_args()
    runs = 50 if args.quick else args.runs
    print(qs.Experiment().label())
    print(f"{runs} runs per row; alpha {ALPHA} family-wise; delta {anytime.DEFAULT_DELTA} point")
    queue_table(runs)
    floor_table()
    ppi_table(runs)


if __name__ == "__main__":
    main()
