"""The demo's ETA rule on recorded stage timings, never on the wall clock (issue 20).

"Holds within 30%" is read as: once collect has its own rate (its first cells), while more than
a minute is left, the ETAs printed are within 30% of the time really left (95% of them over
simulated runs; every one on the recorded run). Before the first
cells the ETA can only be the reference machine's; in the last minute (compare, the summary) a
few seconds either way are no news. A load that changes mid-run cannot be foreseen: the ETA
holds again once the running stage has its own first units.
"""

from __future__ import annotations

import numpy as np
import pytest

from tipbench_lib import demo
from tipbench_lib.demo_progress import RATE_UNITS, Eta, Stage, duration, replay

TOLERANCE = 0.30


def synthetic_trace(
    grid: demo.Grid,
    factor: float,
    judge_factor: float | None = None,
    seed: int = 0,
    fixed_factor: float | None = None,
) -> list[tuple[float, str, int | None]]:
    """A demo as its journals show it on a machine ``factor`` times slower than the reference
    (``judge_factor`` times from the judge on, when the load changed after collect; fixed
    costs ``fixed_factor`` times, when they slow down less than decoding): per-tip times spread
    with mean 1, the journal seen every 2 s as the demo reads it."""
    rng = np.random.default_rng(seed)
    stages = demo.plan(grid)
    events: list[tuple[float, str, int | None]] = []
    now = 0.0
    for stage in stages:
        if stage.name == "judge" and judge_factor:
            factor = judge_factor
        scale = factor
        events.append((now, stage.name, 0))
        fixed_scale = scale if fixed_factor is None else fixed_factor
        fixed = stage.fixed_s * fixed_scale * rng.uniform(0.8, 1.2)
        finish_times = (
            now
            + fixed
            + np.cumsum(
                stage.unit_s
                * scale
                * np.array([stage.weight(k + 1) - stage.weight(k) for k in range(stage.units)])
                * rng.lognormal(-(0.35**2) / 2, 0.35, stage.units)
            )
        )
        end = float(finish_times[-1]) if stage.units else now + fixed
        for tick in np.arange(now + 2.0, end, 2.0):
            done = int((finish_times <= tick).sum())
            if done and done != events[-1][2]:
                events.append((float(tick), stage.name, done))
        if stage.units:
            events.append((end, stage.name, stage.units))
        events.append((end, stage.name, None))
        now = end
    return events


def errors(stages: list[Stage], trace, after: str = "collect") -> list[float]:
    """|predicted end - true end| / time left at each event once stage ``after`` has its own
    rate (its first cells), while more than a minute is left (module docstring)."""
    out = []
    began = next(t for t, name, _ in trace if name == after)
    for time_s, predicted, end, measured in replay(stages, trace):
        if measured and time_s >= began and end - time_s > 60.0:
            out.append(abs(predicted - end) / (end - time_s))
    return out


def share_within(errors_seen: list[float]) -> float:
    return float(np.mean(np.asarray(errors_seen) <= TOLERANCE))


@pytest.mark.parametrize("factor", [1.0, 3.0, 12.0, 20.0])
def test_the_eta_holds_on_machines_faster_and_slower_than_the_reference(factor):
    """The ETA scales with the machine: its rate comes from the first cells, not a constant.
    Over 20 simulated runs, 95% of the ETAs printed after the first cells are within 30% of
    the time really left, and the median error is under 15%."""
    grid = demo.Grid()
    seen: list[float] = []
    for seed in range(20):
        seen += errors(demo.plan(grid), synthetic_trace(grid, factor, seed=seed))
    assert share_within(seen) >= 0.95 and float(np.median(seen)) < 0.15
    if factor >= 3:  # before any tip the ETA can only be the reference's: that is why the
        first = replay(demo.plan(grid), synthetic_trace(grid, factor))[0]  # promise starts
        assert abs(first[1] - first[2]) / first[2] > TOLERANCE  # at the first cells


def test_the_eta_holds_on_a_busy_machine_where_decoding_slows_down_more_than_starting():
    """Recorded here (4 cells x 1 scenario x 2 tips, load 7-9 on 2 cores): a tip took 15-25 s
    against the reference's 1.2, the server started in 16 s against 15. Scaling the fixed
    costs by the decoding's factor put compare at 8 minutes; each gets its own factor."""
    grid = demo.Grid()
    seen: list[float] = []
    for seed in range(20):
        trace = synthetic_trace(grid, 15.0, seed=seed, fixed_factor=1.5)
        seen += errors(demo.plan(grid), trace)
    assert share_within(seen) >= 0.95


def test_the_eta_holds_when_the_load_changes_between_collect_and_judge():
    """Another process takes a core after collect: the judge and compare run 1.4 times slower
    than collect's rate promised. Once the judge has its first units its own rate takes over:
    89% of the ETAs printed from then on are within 30% (the rest just after the judge's rate
    appears; 94% on the 80-tip grid of --prompts v1,v2-mentor), against 98-99% on a steady
    machine."""
    grid = demo.Grid()
    seen: list[float] = []
    for seed in range(20):
        trace = synthetic_trace(grid, 2.0, judge_factor=2.8, seed=seed)
        seen += errors(demo.plan(grid), trace, after="judge")
    assert share_within(seen) >= 0.85


RECORDED = [
    (0.0, "start", 0),
    (15.175, "start", None),
    (15.176, "collect", 0),
    (37.246, "collect", 1),
    (57.304, "collect", 2),
    (95.378, "collect", 3),
    (133.434, "collect", 4),
    (145.458, "collect", 5),
    (149.474, "collect", 6),
    (167.529, "collect", 7),
    (176.683, "collect", 8),
    (176.683, "collect", None),
    (176.683, "judge", 0),
    (235.065, "judge", 1),
    (249.102, "judge", 2),
    (291.354, "judge", 3),
    (299.382, "judge", 4),
    (323.498, "judge", 5),
    (347.55, "judge", 6),
    (401.615, "judge", 7),
    (415.309, "judge", 8),
    (415.309, "judge", None),
    (415.31, "compare", 0),
    (421.225, "compare", None),
]
"""``tipbench demo --scenarios 1 --n-tips 2 --prompts v1,v2-mentor`` on this project's 2-core
Intel Xeon shared with four other jobs (load 7-9): (seconds, stage, tips done) as the demo
wrote them (``demo-stages.json``). Recorded on 2026-12-07 by ``bench/demo_stages.py``."""


IDLE_RECORDED: list[tuple[float, str, int | None]] = [
    (0.0, "start", 0),
    (6.458, "start", None),
    (6.459, "collect", 0),
    (10.465, "collect", 1),
    (12.465, "collect", 2),
    (14.466, "collect", 3),
    (16.467, "collect", 5),
    (18.467, "collect", 6),
    (20.468, "collect", 8),
    (24.473, "collect", 10),
    (26.473, "collect", 11),
    (28.474, "collect", 12),
    (30.474, "collect", 14),
    (32.475, "collect", 15),
    (34.475, "collect", 16),
    (36.476, "collect", 17),
    (38.477, "collect", 18),
    (40.477, "collect", 20),
    (42.481, "collect", 21),
    (44.481, "collect", 22),
    (46.482, "collect", 24),
    (48.483, "collect", 26),
    (52.484, "collect", 28),
    (54.484, "collect", 30),
    (56.489, "collect", 32),
    (58.489, "collect", 34),
    (60.49, "collect", 36),
    (62.49, "collect", 38),
    (64.491, "collect", 40),
    (64.535, "collect", 40),
    (64.535, "collect", None),
    (64.536, "judge", 0),
    (72.542, "judge", 1),
    (76.543, "judge", 2),
    (78.544, "judge", 3),
    (80.549, "judge", 4),
    (82.549, "judge", 5),
    (84.55, "judge", 6),
    (86.551, "judge", 7),
    (88.552, "judge", 8),
    (90.553, "judge", 9),
    (96.558, "judge", 10),
    (98.559, "judge", 11),
    (100.56, "judge", 12),
    (102.561, "judge", 13),
    (104.565, "judge", 14),
    (106.565, "judge", 15),
    (108.566, "judge", 16),
    (110.567, "judge", 17),
    (114.568, "judge", 18),
    (116.571, "judge", 19),
    (118.572, "judge", 20),
    (122.573, "judge", 21),
    (124.577, "judge", 22),
    (126.577, "judge", 23),
    (128.578, "judge", 24),
    (130.578, "judge", 25),
    (132.579, "judge", 26),
    (136.581, "judge", 28),
    (144.586, "judge", 29),
    (146.587, "judge", 30),
    (150.589, "judge", 31),
    (154.593, "judge", 32),
    (156.594, "judge", 33),
    (158.595, "judge", 34),
    (162.596, "judge", 35),
    (172.608, "judge", 36),
    (174.609, "judge", 37),
    (178.61, "judge", 38),
    (182.611, "judge", 39),
    (186.612, "judge", 40),
    (186.621, "judge", 40),
    (186.621, "judge", None),
    (186.622, "compare", 0),
    (191.617, "compare", None),
]
"""The default ``tipbench demo`` (40 tips) on the same machine idle (load 0.6 before it):
recorded on 2026-12-07 by ``bench/demo_stages.py``; 3 min 12 s in all. The stages' reference
costs (``demo.START_S`` ...) were measured on this run."""


def test_the_eta_held_on_the_recorded_idle_run():
    """94% of the ETAs printed once collect had its rate, with more than a minute left, were
    within 30% of the time really left, the worst 34% (an LLM-judge answer retried three times
    late in the run). In-sample for the references, which this run measured; the rule itself is
    tested out of sample on the simulated runs above. Before the first cells it said 3 min 14 s
    against 3 min 12 s."""
    seen = errors(demo.plan(demo.Grid()), IDLE_RECORDED)
    assert len(seen) >= 40 and share_within(seen) >= 0.9 and max(seen) <= 0.35
    first = replay(demo.plan(demo.Grid()), IDLE_RECORDED)[0]
    assert abs(first[1] - first[2]) / first[2] < 0.1


def test_on_the_loaded_run_the_eta_overestimated_until_the_judge_had_its_rate():
    """On the loaded run the judge slowed down less than collect (1.29 s judged per tip
    collected, 2.1 idle), so the judge's time foreseen from collect's rate was too long, never
    too short, and its own rate brought the ETA back within 30% by the end. What this test
    holds the rule to: a wrong ratio between stages errs on the long side on a loaded machine,
    and is corrected by the stage's own first units."""
    grid = demo.Grid(scenarios=1, n_tips=2, prompts=("v1", "v2-mentor"))
    replayed = [
        (t, predicted, end)
        for t, predicted, end, measured in replay(demo.plan(grid), RECORDED)
        if measured and end - t > 60.0
    ]
    assert replayed and all(predicted >= end for _, predicted, end in replayed)
    assert abs(replayed[-1][1] - replayed[-1][2]) / (replayed[-1][2] - replayed[-1][0]) <= 0.35
    first = replay(demo.plan(grid), RECORDED)[0]
    assert first[1] < first[2] / 3


def test_a_running_stage_uses_its_own_rate_and_the_model_load_is_no_unit():
    eta = Eta([Stage("collect", 30, fixed_s=20.0, unit_s=1.0)])
    assert eta.left() == pytest.approx(50.0)
    eta.observe("collect", 0, 5.0)
    assert eta.left() == pytest.approx(15.0 + 30.0), "the load's reference, less what passed"
    eta.observe("collect", 2, 40.0)  # 40 s of load, then two tips
    assert not eta.measured("collect")  # too few tips for a rate: the reference's
    assert eta.left() == pytest.approx(28 * 1.0)
    eta.observe("collect", 2 + RATE_UNITS, 40.0 + 3.0 * RATE_UNITS)  # 3 s per tip since
    assert eta.measured("collect")
    assert eta.left() == pytest.approx((28 - RATE_UNITS) * 3.0)
    eta.finish("collect", 100.0)
    assert eta.left() == 0.0


def test_stages_to_come_are_scaled_by_the_measured_speed():
    eta = Eta([Stage("collect", 40, 0.0, 1.0), Stage("judge", 10, 10.0, 2.0)])
    eta.observe("collect", 1, 5.0)
    eta.observe("collect", 1 + RATE_UNITS, 5.0 + 2.0 * RATE_UNITS)  # twice the reference
    assert eta.speed_factor() == pytest.approx(2.0)
    assert eta.fixed_factor() == 1.0, "collect showed no fixed cost: the reference's"
    assert eta.stage_left("judge") == pytest.approx(10.0 + 20.0 * 2.0)


def test_fixed_costs_are_scaled_by_the_fixed_parts_seen():
    eta = Eta([Stage("start", 0, 10.0), Stage("collect", 40, 20.0, 1.0), Stage("compare", 0, 30.0)])
    eta.finish("start", 15.0)
    assert eta.fixed_factor() == pytest.approx(1.5)
    eta.observe("collect", 2, 44.0)  # 40 s to load, then 2 tips at 2 s
    eta.observe("collect", 2 + RATE_UNITS, 44.0 + 2.0 * RATE_UNITS)
    assert eta.fixed_factor() == pytest.approx(40.0 / 20.0)
    assert eta.stage_left("compare") == pytest.approx(30.0 * 2.0)


def test_durations_read_as_people_say_them():
    assert duration(42.4) == "42 s"
    assert duration(65) == "1 min 05 s"
    assert duration(-3) == "0 s"
