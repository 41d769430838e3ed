"""The adaptive queue's promises under simulated people (issue 11), on the benchmark's experiment
at a scale that runs in about a minute; ``bench/adaptive_judging.py`` measures it with 500 runs.

3 models x 3 prompts x 24 scenarios x 3 tips, one cell 2 points better, discrete 1-5 scores with
ties from :mod:`tipbench_lib.synthetic`; one person, or three people biased by -0.4, 0 and +0.4
taking turns, each with their own queue; the default sign-flip sequences at alpha / m.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tipbench_lib.stats import anytime
from tipbench_lib.validation import queue_simulation as qs

pytestmark = pytest.mark.slow

RUNS = 100


def test_prpl_eb_holds_the_truth_at_every_step() -> None:
    """Time-uniform coverage of the bounded alternative on discrete, skewed data in [0, 1]."""
    rng = np.random.default_rng(0)
    values = np.array([0.0, 0.4, 0.5, 0.55, 1.0])
    probs = np.array([0.05, 0.2, 0.4, 0.3, 0.05])
    truth = float(values @ probs)
    for alpha in (0.1, 0.3):
        x = rng.choice(values, p=probs, size=(2000, 400))
        lower, upper = anytime.predmix_cs(x, alpha)
        missed = ((lower > truth) | (upper < truth)).any(axis=1).mean()
        assert missed <= alpha, (alpha, missed)
        assert np.median(upper[:, -1] - lower[:, -1]) < 0.25


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], list[qs.QueueRun]]:
    """Runs per (design, order); the adaptive ones are finished (every card judged after the
    stop) so that the out-of-reach comparisons can be checked against all the data."""
    designs = {
        "1 person, baseline": (qs.Experiment(people_biases=(0.0,)), RUNS),
        "3 people, baseline": (qs.Experiment(), RUNS),
        "1 person, all pairs": (qs.Experiment(people_biases=(0.0,), baseline=None), RUNS // 2),
    }
    out = {}
    for i, (name, (exp, n)) in enumerate(designs.items()):
        data = qs.draw(exp, n, seed=40 + i)
        for order in ("adaptive", "uniform"):
            out[(name, order)] = [
                qs.queue_run(data, r, order, seed=r, finish=order == "adaptive") for r in range(n)
            ]
        if name == "1 person, baseline":  # the exact out-of-reach rule alone
            out[(name, "adaptive, exact")] = [
                qs.queue_run(data, r, "adaptive", seed=r, finish=True, futility=None)
                for r in range(n)
            ]
    return out


def test_familywise_false_better_or_worse_at_most_5_percent(runs: dict) -> None:
    """Per design and order not significantly above 5% (binomial p >= 0.01); pooled, below."""
    hits = total = 0
    for key, results in runs.items():
        called = sum(r.false_call for r in results)
        wrong_equivalent = sum(r.wrong_equivalent for r in results)
        assert sps.binomtest(called, len(results), 0.05, "greater").pvalue >= 0.01, key
        assert sps.binomtest(wrong_equivalent, len(results), 0.05, "greater").pvalue >= 0.01
        hits, total = hits + called, total + len(results)
    assert hits / total <= 0.05


def test_sequences_hold_the_truth_at_every_step_for_the_whole_family(runs: dict) -> None:
    """The sequences only shrink, so the truth inside at the stop is inside at every step."""
    missed = total = 0
    for key, results in runs.items():
        misses = sum(not r.covered.all() for r in results)
        assert sps.binomtest(misses, len(results), 0.05, "greater").pvalue >= 0.01, key
        missed, total = missed + misses, total + len(results)
    assert missed / total <= 0.05


def test_out_of_reach_comparisons_stay_undecided_with_every_card_judged(runs: dict) -> None:
    stopped = 0
    for (name, order), results in runs.items():
        if not order.startswith("adaptive"):
            continue
        for r in results:
            out = np.array(r.decisions) == "out of reach"
            after = np.array(r.decisions_after_all)
            assert not np.isin(after[out], anytime.DECIDED).any(), name
            stopped += int(out.sum())
    assert stopped > 100  # the rule did stop comparisons


def test_the_projection_saves_cards_and_loses_few_real_decisions(runs: dict) -> None:
    """One person, baseline family: giving up by projection (99% by default) against the exact
    rule alone. The bench measures about 0.6x the cards and 1-2% of the real difference's
    decisions lost (decided once every card is judged, not at the stop)."""
    name = "1 person, baseline"
    projected, exact = runs[(name, "adaptive")], runs[(name, "adaptive, exact")]
    assert np.mean([r.cards for r in projected]) <= 0.75 * np.mean([r.cards for r in exact])
    assert sum(anytime.PROJECTED in r.decisions for r in projected) >= 0.5 * len(projected)
    could = lost = 0
    for r in projected:
        real = np.flatnonzero(np.array(r.decisions_after_all) == "better")
        for k in real:
            could += 1
            lost += r.decisions[k] != "better"
    assert could >= 0.8 * len(projected)
    assert lost / could <= 0.06, (lost, could)


def test_the_adaptive_queue_saves_cards_and_finds_the_difference_sooner(runs: dict) -> None:
    """One person: the saving is the order and the out-of-reach rules (the bench measures about
    0.5x with the projection, 0.75x with the exact rule alone). Three people: today's uniform
    order has each person judge every card."""
    for name, most in (("1 person, baseline", 0.65), ("3 people, baseline", 0.4)):
        cards = {o: np.mean([r.cards for r in runs[(name, o)]]) for o in ("adaptive", "uniform")}
        assert cards["adaptive"] <= most * cards["uniform"], (name, cards)
        found = {o: np.array([r.cards_found for r in runs[(name, o)]]) for o in cards}
        assert np.isfinite(found["adaptive"]).mean() >= 0.8, name  # the bench: about 0.92
        assert np.nanmedian(found["adaptive"]) < np.nanmedian(found["uniform"]), name
