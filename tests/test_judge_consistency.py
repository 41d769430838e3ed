"""Which judges make a verdict provisional: leniency is not weakness, noise is (issue 18.6).

Scores come from :mod:`tipbench_lib.stats.judge_simulation`: 1-5 scores piled at the ceiling
(43% of relevance scores and 57% of tone scores are 5s), scenario, cell x scenario, tip and judge
effects. ``bench/judge_consistency.py`` runs the same at full size.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tipbench_lib.stats.agreement import krippendorff_alpha, within_scenario_alpha
from tipbench_lib.stats.judges import choose_view, judge_panel
from tipbench_lib.validation import judge_simulation as js

J = js.Judge
REPLICATES = 30


def _panels(judges: tuple[js.Judge, ...], seed: int, **shape) -> list[pl.DataFrame]:
    design = js.Design(judges, cell_effects=(-0.3, -0.2, -0.1, 0.1, 0.2, 0.3), **shape)
    data = js.draw(design, REPLICATES, seed)
    tips = js.scenario_of(design)
    return [judge_panel(js.judgments_frame(data, r), scenarios=tips) for r in range(REPLICATES)]


def _flagged(panels: list[pl.DataFrame], judge: str) -> int:
    """In how many replicates ``judge`` was provisional."""
    return sum(bool(p.filter(pl.col("judge_id") == judge)["provisional"][0]) for p in panels)


def test_the_generator_piles_scores_at_the_ceiling() -> None:
    design = js.Design((J("ann"),), n_scenarios=24)
    shares = js.top_share(js.draw(design, 40, 0))
    assert np.allclose(shares, js.TOP_SHARES, atol=0.03)


def test_people_who_differ_only_in_leniency_are_not_weak() -> None:
    """Two people a constant ±0.5 apart (which the paired comparison cancels) agree on what
    the verdicts compare; neither may make the verdicts provisional."""
    panels = _panels((J("harsh", bias=-0.5), J("kind", bias=0.5)), seed=1)
    assert _flagged(panels, "harsh") <= 1 and _flagged(panels, "kind") <= 1
    views = [choose_view(p, "people") for p in panels]
    assert sum(v.provisional for v in views) <= 1


def test_noisy_and_random_people_are_still_weak_and_the_good_ones_are_not() -> None:
    panels = _panels((J("ann"), J("bo"), J("noisy", sd=2.0), J("dice", random=True)), seed=2)
    assert _flagged(panels, "dice") == REPLICATES
    assert _flagged(panels, "noisy") >= REPLICATES - 2
    assert _flagged(panels, "ann") == 0 and _flagged(panels, "bo") == 0


def test_a_lone_person_is_never_provisional_because_of_an_llm_judge() -> None:
    """People are the reference the rubric was written for: a lone person has nobody to be
    checked against, an LLM judge least of all. The LLM judge is checked against the person."""
    panels = _panels((J("ann"), J("llm:dice", kind="llm", random=True)), seed=3)
    assert _flagged(panels, "ann") == 0
    assert all(p.filter(pl.col("judge_id") == "ann")["reference"][0] is None for p in panels)
    assert _flagged(panels, "llm:dice") == REPLICATES
    assert not any(choose_view(p, "people").provisional for p in panels)


def test_within_scenario_alpha_ignores_leniency_and_scenarios_and_skips_lone_tips() -> None:
    rng = np.random.default_rng(0)
    scenario = np.repeat(np.arange(6), 4)
    truth = rng.normal(0, 1, 24) + 3 * scenario
    alpha, n = within_scenario_alpha(truth + 2.0, truth, scenario)
    assert alpha == pytest.approx(1.0) and n == 24
    noisy = truth + rng.normal(0, 1, 24)
    centred = [x - np.repeat(x.reshape(6, 4).mean(1), 4) for x in (noisy, truth)]
    expected = krippendorff_alpha(np.vstack(centred), "interval")
    assert within_scenario_alpha(noisy, truth, scenario)[0] == pytest.approx(expected)
    # a scenario with one tip both scored says nothing about the order within a scenario
    mine = truth.copy()
    mine[1:4] = np.nan
    assert within_scenario_alpha(mine, truth, scenario)[1] == 20
    assert np.isnan(within_scenario_alpha(truth[::4], truth[::4], scenario[::4])[0])
