"""Pairwise judging's statistics on a known truth (issue 21's proof).

Simulated people choose between two tips of one scenario (:mod:`tipbench_lib.validation.
pair_simulation`: the rubric simulations' latent tip quality, impressions on the 1–5 scale so
ties come from the scale, people harsh, neutral and lenient by 0.5 pushing the left tip up by
0, 0.2 and 0.4). Every cell pair of every scenario is judged on 2 tip pairs by each person
(3 in part 2's queue experiment). Printed as markdown tables for ``docs/benchmarks.md``.

Part 1, fixed-sample validity (:func:`tipbench_lib.stats.pairwise.compare_pairwise`,
:func:`tipbench_lib.stats.bradley_terry.strengths`), 6 cells at 6, 12 and 24 scenarios, a
baseline named or all pairs, centred or ceiling-heavy impressions: the family-wise rate of a
false better/worse among equal cells; the coverage of the win shares' intervals and of the
Bradley–Terry strengths' intervals (cells 0, 0.1, 0.2, 0.3, 0.5, 0.8 latent points apart);
the power to call the +2 cell (the latent effect that makes it 2 composite points better on the
rubric) better than the baseline.

Part 2, the adaptive pair queue (:mod:`tipbench_lib.stats.pair_queue`) against the rubric's
(:mod:`tipbench_lib.stats.adaptive`) on the rubric queue benchmark's experiment (3 models × 3
prompts × 24 scenarios × 3 tips, one cell +2 points, baseline named, three people taking turns
with 6 cards): cards until the queue stops, the share of runs in which the +2 cell is found
better before that and the cards it took, and the family-wise false better/worse; then the
pair queue with every cell equal (twice the runs), for its family-wise error alone.

Part 3, the LLM judge's position bias: an LLM judge pushing the left tip up by 1.0 latent
point (noise 0.3) on equal cells and on the +2 cell: shown once with A always on the left (a
fixed order), once with random sides, and in both orders with the rule "a win only when both
orders agree, otherwise a tie": FWER, the mean win share of A against its truth 1/2, the power
on the +2 cell and the measured share of left answers.

Part 4, the pairwise agreement floor (:data:`tipbench_lib.stats.pairwise.PAIR_AGREEMENT_FLOOR`):
each judge type's agreement (10th, 50th, 90th percentile) and share flagged provisional.

Part 5, the strengths' interval: t with the bootstrap's standard error against the percentile
bootstrap, coverage and width from the same resamples.

Part bias, the position bias's interval (:func:`tipbench_lib.stats.pairwise.position_bias`):
judges that read the tips, pick a side, or are noisy (:data:`tipbench_lib.validation.
pair_simulation.POSITION_JUDGES`), leaning left by 0, 0.1 and 0.3 (true left share 0.5, 0.6,
0.8), 10 to 100 pairs shown in both orders (the LLM judge) or once (a person): the coverage and
width of Wilson's interval over showings (the rule before) and of the interval over pairs
(:func:`tipbench_lib.stats.pair_judges.clustered_wilson`, the rule now), on the same draws.

Run: ``nice .venv/bin/python bench/pairwise.py [--runs 1000] [--queue-runs 200]
[--bias-runs 4000] [--parts 1,2,3,4,5,bias]``
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl

from tipbench_lib.stats import bradley_terry, pairwise
from tipbench_lib.validation import pair_simulation as ps
from tipbench_lib.validation import queue_simulation as qs

ALPHA = 0.05
SPREAD = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)
CEILING_LEVEL = 4.33
PLUS_TWO = qs.cell_effect(qs.Experiment())
"""The latent effect that makes a cell 2 composite points better on the rubric."""


def fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def familywise(rows: pl.DataFrame) -> float:
    primary = rows.filter(pl.col("family") == "primary")
    called = primary.group_by("experiment").agg(
        pl.col("verdict").is_in(["better", "worse"]).any().alias("called")
    )
    return float(called["called"].mean())


def share_coverage(rows: pl.DataFrame) -> float:
    usable = rows.filter(pl.col("share_lo").is_not_null())
    inside = (usable["share_lo"] <= usable["true_share"]) & (
        usable["true_share"] <= usable["share_hi"]
    )
    return float(inside.mean())


def strength_coverage(setup: ps.Setup, frame: pl.DataFrame, n_boot: int) -> float:
    table = bradley_terry.strengths(
        frame, baseline=setup.baseline_cell(), n_boot=n_boot, by="experiment"
    )
    truth = ps.true_strengths(setup)
    slot = {cell: i for i, cell in enumerate(setup.cells())}
    index = np.array(
        [slot[(m, p)] for m, p in zip(table["model"], table["prompt_version"], strict=True)]
    )
    anchored = index == (setup.baseline if setup.baseline is not None else -1)
    lo, hi = table["strength_lo"].to_numpy(), table["strength_hi"].to_numpy()
    inside = (lo <= truth[index]) & (truth[index] <= hi)
    return float(inside[~anchored].mean())


def power(setup: ps.Setup, runs: int, seed: int) -> float:
    effects = np.zeros(setup.n_cells)
    effects[3] = PLUS_TWO
    strong = replace(setup, effects=tuple(effects))
    rows = ps.compare(strong, ps.outcomes(strong, runs, seed))
    cells = strong.cells()
    hit = rows.filter(
        (pl.col("a_model") == cells[3][0])
        & (pl.col("a_prompt") == cells[3][1])
        & (pl.col("b_model") == cells[0][0])
        & (pl.col("b_prompt") == cells[0][1])
    )
    return float((hit["verdict"] == "better").mean())


def validity(runs: int, n_boot: int) -> None:
    print(
        "\n### Part 1: fixed-sample validity (6 cells, 2 tip pairs per cell pair and scenario, "
        f"3 people, {runs} replicates per cell of the table)\n"
    )
    print(
        "| impressions | family | scenarios | FWER | share coverage | strength coverage | "
        "power +2 vs baseline |"
    )
    print("|---|---|---|---|---|---|---|")
    for level, name in ((3.0, "centred"), (CEILING_LEVEL, "ceiling")):
        for baseline in (0, None):
            for n_s in (6, 12, 24):
                null = ps.Setup(n_scenarios=n_s, baseline=baseline, level=level)
                fwer = familywise(ps.compare(null, ps.outcomes(null, runs, n_s)))
                spread = ps.Setup(n_scenarios=n_s, baseline=baseline, level=level, effects=SPREAD)
                frame = ps.outcomes(spread, runs, 1000 + n_s)
                cover = share_coverage(ps.compare(spread, frame))
                strength = strength_coverage(spread, frame, n_boot)
                hit = power(null, runs, 2000 + n_s)
                family = "baseline" if baseline is not None else "all pairs"
                print(
                    f"| {name} | {family} | {n_s} | {fmt(fwer)} | {fmt(cover)} | "
                    f"{fmt(strength)} | {fmt(hit)} |",
                    flush=True,
                )


def queue(runs: int) -> None:
    exp = qs.Experiment()
    print(
        f"\n### Part 2: cards to decide the +2 cell, pairwise adaptive against rubric adaptive "
        f"({exp.label()}; {runs} runs)\n"
    )
    print(
        "| queue | cards per unit | cards to stop | +2 found better | cards when found "
        "(median) | FWER |"
    )
    print("|---|---|---|---|---|---|")
    setup = ps.queue_setup(exp)
    drawn = ps.answers(setup, runs, 7)
    for per_unit in (1, 3):
        done = [
            ps.pair_queue_run(setup, drawn, r, seed=r, cards_per_unit=per_unit) for r in range(runs)
        ]
        row(f"pairwise ({per_unit} card{'s' if per_unit > 1 else ''} per scenario)", per_unit, done)
    data = qs.draw(exp, runs, 7)
    done = [qs.queue_run(data, r, "adaptive", seed=r) for r in range(runs)]
    row("rubric (one person scores both arms' tips)", 2 * exp.n_tips, done)
    equal = ps.queue_setup(replace(exp, difference=0.0))
    drawn = ps.answers(equal, 2 * runs, 8)
    done = [ps.pair_queue_run(equal, drawn, r, seed=r) for r in range(2 * runs)]
    row(f"pairwise, every cell equal ({2 * runs} runs)", 3, done)


def row(name: str, per_unit: int, done: list) -> None:
    cards = np.array([d.cards for d in done], dtype=float)
    found = np.array([d.cards_found for d in done], dtype=float)
    fwer = np.mean([d.false_call for d in done])
    median = float(np.nanmedian(found)) if np.isfinite(found).any() else float("nan")
    print(
        f"| {name} | {per_unit} | {cards.mean():.0f} | {np.isfinite(found).mean():.3f} | "
        f"{fmt(median, 0)} | {fwer:.3f} |",
        flush=True,
    )


def llm_bias(runs: int) -> None:
    print(
        "\n### Part 3: an LLM judge pushing the left tip up by 1.0 (6 cells, 12 scenarios, "
        f"2 tip pairs, baseline named, {runs} replicates)\n"
    )
    print(
        "| showing | FWER (equal cells) | mean share of A − 1/2 (equal cells) | power +2 | "
        "share of left answers |"
    )
    print("|---|---|---|---|---|")
    shows = (
        ("once, A always left", {"sides": "fixed"}),
        ("once, sides at random", {"sides": "random"}),
        ("both orders, win only when both agree", {"both_orders": True}),
    )
    effects = np.zeros(6)
    effects[3] = PLUS_TWO
    for name, options in shows:
        judge = {"leans": (0.0,), "position": (1.0,), "judge_kind": "llm", **options}
        null = ps.Setup(n_scenarios=12, **judge)
        frame = ps.outcomes(null, runs, 31)
        rows = ps.compare(null, frame)
        # the canonical orientation (A the smaller cell) is the one shown left when fixed
        canonical = pairwise.compare_pairwise(frame, baseline=None, by="experiment")
        lean = _canonical_lean(canonical)
        bias = pairwise.position_bias(frame)
        left = float(bias["n_left"].sum() / (bias["n_left"].sum() + bias["n_right"].sum()))
        strong = ps.Setup(n_scenarios=12, effects=tuple(effects), **judge)
        hits = ps.compare(strong, ps.outcomes(strong, runs, 32))
        cells = strong.cells()
        plus = hits.filter(
            (pl.col("a_model") == cells[3][0])
            & (pl.col("a_prompt") == cells[3][1])
            & (pl.col("b_model") == cells[0][0])
            & (pl.col("b_prompt") == cells[0][1])
        )
        print(
            f"| {name} | {fmt(familywise(rows))} | {lean:+.3f} | "
            f"{fmt(float((plus['verdict'] == 'better').mean()))} | {left:.3f} |",
            flush=True,
        )


def _canonical_lean(rows: pl.DataFrame) -> float:
    """Mean share of the smaller (model, prompt) cell of each pair, minus one half."""
    first = (pl.col("a_model") < pl.col("b_model")) | (
        (pl.col("a_model") == pl.col("b_model")) & (pl.col("a_prompt") < pl.col("b_prompt"))
    )
    share = pl.when(first).then(pl.col("share_mean")).otherwise(1 - pl.col("share_mean"))
    return float(rows.select(share.mean()).item()) - 0.5


def agreement(runs: int) -> None:
    print(
        f"\n### Part 4: pairwise agreement by judge type (6 cells, 12 scenarios, 2 tip pairs, "
        f"every judge on every pair, {runs} replicates; floor "
        f"{pairwise.PAIR_AGREEMENT_FLOOR})\n"
    )
    types = (
        ("person, harsh (−0.5)", -0.5, 0.0, 0.3),
        ("person, neutral", 0.0, 0.2, 0.3),
        ("person, lenient (+0.5)", 0.5, 0.4, 0.3),
        ("person, 3× noise (sd 0.9)", 0.0, 0.0, 0.9),
        ("person, 5× noise (sd 1.5)", 0.0, 0.0, 1.5),
        ("person pushing the left tip up by 1.0", 0.0, 1.0, 0.3),
    )
    setup = ps.Setup(
        n_scenarios=12,
        effects=SPREAD,
        leans=tuple(t[1] for t in types),
        position=tuple(t[2] for t in types),
        noise=tuple(t[3] for t in types),
    )
    alphas: dict[str, list[float]] = {t[0]: [] for t in types}
    flagged: dict[str, list[bool]] = {t[0]: [] for t in types}
    for r in range(runs):
        frame = ps.outcomes(setup, 1, 500 + r)
        frame = frame.with_columns(
            pl.Series("pair_id", np.repeat(np.arange(frame.height // len(types)), len(types))).cast(
                pl.String
            )
        )
        panel = pairwise.pair_judge_panel(frame)
        for j, t in enumerate(types):
            found = panel.filter(pl.col("judge_id") == str(j)).row(0, named=True)
            alphas[t[0]].append(found["alpha"])
            flagged[t[0]].append(found["provisional"])
    print("| judge type | alpha 10% | 50% | 90% | flagged provisional |")
    print("|---|---|---|---|---|")
    for name, values in alphas.items():
        q = np.quantile(values, [0.1, 0.5, 0.9])
        print(f"| {name} | {q[0]:.2f} | {q[1]:.2f} | {q[2]:.2f} | {np.mean(flagged[name]):.2f} |")


def interval_choice(runs: int, n_boot: int) -> None:
    print(
        "\n### Part 5: the strengths' interval, t with the bootstrap's standard error (the "
        f"choice) against the percentile bootstrap (6 cells spread as in part 1, baseline named, "
        f"{runs} replicates, the same {n_boot} resamples for both)\n"
    )
    print(
        "| impressions | scenarios | t coverage | percentile coverage | t width | "
        "percentile width |"
    )
    print("|---|---|---|---|---|---|")
    for level, name in ((3.0, "centred"), (CEILING_LEVEL, "ceiling")):
        for n_s in (6, 12, 24):
            setup = ps.Setup(n_scenarios=n_s, level=level, effects=SPREAD)
            truth = ps.true_strengths(setup)[1:]
            wins, _, _ = bradley_terry.wins_tensor(
                ps.outcomes(setup, runs, 3000 + n_s), "experiment"
            )
            found = {"t": [], "percentile": []}
            for e in range(runs):
                for method in found:
                    rng = np.random.default_rng(e)  # the same resamples for both methods
                    _, lo, hi = bradley_terry.bootstrap(wins[e], 0, n_boot, rng, 0.95, method)
                    found[method].append((lo[1:], hi[1:]))
            cover, width = {}, {}
            for method, bounds in found.items():
                lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
                cover[method] = float(((lo <= truth) & (truth <= hi)).mean())
                width[method] = float(np.nanmean(hi - lo))
            print(
                f"| {name} | {n_s} | {fmt(cover['t'])} | {fmt(cover['percentile'])} | "
                f"{width['t']:.2f} | {width['percentile']:.2f} |",
                flush=True,
            )


def bias_interval(runs: int) -> None:
    print(
        "\n### Part bias: the position bias's interval, Wilson over showings (before) against "
        f"the interval over pairs (now), 95%, {runs} replicates per row, the same draws\n"
    )
    print(
        "| judge | shown | true left share | pairs | coverage before | coverage now | "
        "width before | width now |"
    )
    print("|---|---|---|---|---|---|---|---|")
    worst = {"before": 1.0, "now": 1.0}
    for both in (True, False):
        for judge in ps.POSITION_JUDGES:
            for lean in (0.0, 0.1, 0.3):
                for n in (10, 20, 50, 100):
                    seed = 7000 + 100 * both + 10 * n + int(lean * 10)
                    left, decided = ps.position_showings(judge, lean, n, both, runs, seed)
                    _, lo_w, hi_w = pairwise.wilson(left.sum(axis=1), decided.sum(axis=1))
                    _, lo, hi, _ = pairwise.clustered_wilson(left, decided)
                    truth = 0.5 + lean
                    cover = {
                        "before": float(np.nanmean((lo_w <= truth) & (truth <= hi_w))),
                        "now": float(np.nanmean((lo <= truth) & (truth <= hi))),
                    }
                    worst = {k: min(worst[k], v) for k, v in cover.items()}
                    print(
                        f"| {judge.name} | {'both orders' if both else 'once'} | {truth:.1f} | "
                        f"{n} | {cover['before']:.3f} | {cover['now']:.3f} | "
                        f"{np.nanmean(hi_w - lo_w):.3f} | {np.nanmean(hi - lo):.3f} |",
                        flush=True,
                    )
    print(f"\nlowest coverage: before {worst['before']:.3f}, now {worst['now']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--queue-runs", type=int, default=200)
    parser.add_argument("--agreement-runs", type=int, default=100)
    parser.add_argument("--boot", type=int, default=500)
    parser.add_argument("--bias-runs", type=int, default=4000)
    parser.add_argument("--parts", default="1,2,3,4,5,bias")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    started = time.monotonic()
    cpu = platform.processor() or platform.machine()
    print(
        f"bench/pairwise.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu} "
        f"({os.cpu_count()} cores), alpha {ALPHA}"
    )
    if "1" in parts:
        validity(args.runs, args.boot)
    if "2" in parts:
        queue(args.queue_runs)
    if "3" in parts:
        llm_bias(args.runs)
    if "4" in parts:
        agreement(args.agreement_runs)
    if "5" in parts:
        interval_choice(args.runs, args.boot)
    if "bias" in parts:
        bias_interval(args.bias_runs)
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
