"""Do the verdicts keep their promises? Coverage, family-wise error and power, by simulation.

For 6 and 20 cells at 6, 8, 12 and 24 scenarios, with discrete 1-5 scores (2 tips per cell and
scenario, so scenario means tie often), three judges biased by -0.4, 0 and +0.4 on the latent
scale, 5% of judgments failing, and two judge designs (every judge scores every cell; each cell
scored by one judge only), :mod:`tipbench_lib.validation.simulation` measures:

- coverage of the cells' and the pairs' (1 - alpha) intervals (target 93-97%);
- the family-wise rate of any false better/worse among equal cells (target <= 5%);
- the power at the detectable difference the procedure reports (target 0.80 +- 0.05), over the
  replicates (pairs) where that pair reports one; "-" where the design cannot detect anything
  (most primary pairs' floors are above their Holm threshold);
- seconds per design (all three simulations).

A second table compares interval methods (Student's t, bootstrap-t, percentile bootstrap) on
the same designs: it is why Student's t is the default. The third part times the compare-scale
budget (20 models x 5 prompts x 50 scenarios x 5 tips x 2 judges <= 10 s) through
``bench/compare_scale.py``'s own functions.

The ceiling table (``--ceiling``) draws what an audit of the statistics found them failing on
(issue 18): ceiling-heavy scores (``synthetic.CEILING``: about 43% of relevance and 57% of tone
at 5) judged by three people, harsh, neutral and lenient by 0.5, at 4-24 scenarios, and prints
per design: the coverage of every cell pooled, of the worst single cell and of the cell nearest
the ceiling (with the share of its misses from below, and its tone interval), the pairs'
coverage, the FWER, the power at the reported detectable difference, and counts that must be 0:
intervals out of range or NaN, ``indistinguishable`` rows no signs could have decided,
``underpowered`` rows that could have passed. The audit's figures on the code before issue 18
are printed above it.

Run: ``.venv/bin/python bench/stats_validity.py [--replicates 400] [--quick] [--ceiling]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_scale  # noqa: E402  (the sibling benchmark, run as a module here)

from tipbench_lib.validation import simulation as sim  # noqa: E402

CELLS = (6, 20)
SCENARIOS = (6, 8, 12, 24)
METHODS = ("t", "studentized", "percentile")


def fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def validity_table(replicates: int, baseline: bool) -> list[sim.Row]:
    family = "every cell against a baseline" if baseline else "all pairs"
    print(f"\nPrimary family: {family}; {replicates} replicates per design and measure")
    print(
        f"{'cells':>5} {'scen.':>5} {'judges':<13} {'cover cells':>11} {'cover pairs':>11} "
        f"{'FWER':>6} {'mdd':>6} {'power':>6} {'(pairs)':>7} {'seconds':>8}"
    )
    rows = []
    for cells in CELLS:
        for n in SCENARIOS:
            for judges in sim.JUDGE_DESIGNS:
                design = sim.Design(cells, n, judges=judges, baseline=baseline)
                row = sim.validity_row(design, replicates, seed=1000 * cells + 10 * n + baseline)
                rows.append(row)
                print(
                    f"{cells:>5} {n:>5} {judges:<13} {fmt(row.cell_coverage):>11} "
                    f"{fmt(row.pair_coverage):>11} {fmt(row.familywise_error):>6} "
                    f"{fmt(row.mdd, 2):>6} {fmt(row.power):>6} {row.power_pairs or '':>7} "
                    f"{row.seconds:>8.1f}",
                    flush=True,
                )
    return rows


CEILING_SCENARIOS = (4, 6, 8, 12, 24)
BEFORE = (
    "Before issue 18 (the audit, 300-2000 replicates): top cell 0.919-0.938 at 4-12 scenarios "
    "(others 0.928-0.944), 74-86% of its misses from below; pairs 0.939-0.969; FWER <= 0.054 "
    "at 6-24, 0 at 4; power at the reported difference 0.77-0.92; 14% of 'indistinguishable' "
    "rows undecidable at 6 scenarios, 3% at 8."
)


def ceiling_table(replicates: int, cells: tuple[int, ...] = CELLS) -> list[sim.EdgeRow]:
    """The designs issue 18's audit found failing, with the checks that must hold there."""
    print(f"\nCeiling-heavy scores, people at -0.5/0/+0.5; {replicates} replicates per measure")
    print(BEFORE)
    print(
        "cells: every cell's interval (composite), pooled; worst: the lowest single cell; top: "
        "the cell with the highest true mean\n(t: the symmetric t interval before issue 18, same "
        "draws), below: its misses from below; tone: its tone interval; range: bounds out of "
        "range or NaN;\nundec.: indistinguishable rows no signs could decide; pass.: "
        "underpowered rows that could pass; relab.: share of the floor's indistinguishable rows "
        "now underpowered"
    )
    print(
        f"{'cells':>5} {'scen.':>5} {'family':<8} {'cells':>6} {'worst':>6} {'top':>6} "
        f"{'(t)':>6} {'below':>6} {'tone':>6} {'(t)':>6} {'pairs':>6} {'FWER':>6} {'mdd':>6} "
        f"{'power':>6} {'range':>5} {'undec.':>6} {'pass.':>5} {'relab.':>6} {'seconds':>8}"
    )
    rows = []
    for n_cells in cells:
        for n in CEILING_SCENARIOS:
            for baseline in (False, True):
                design = sim.ceiling_design(n_cells, n, baseline=baseline)
                row = sim.edge_row(design, replicates, seed=5000 + 100 * n_cells + 2 * n + baseline)
                rows.append(row)
                print(
                    f"{n_cells:>5} {n:>5} {'baseline' if baseline else 'all':<8} "
                    f"{fmt(row.cover_cells):>6} {fmt(row.cover_worst_cell):>6} "
                    f"{fmt(row.cover_top_cell):>6} {fmt(row.before_top):>6} "
                    f"{fmt(row.top_misses_from_below, 2):>6} {fmt(row.cover_top_tone):>6} "
                    f"{fmt(row.before_top_tone):>6} {fmt(row.pair_coverage):>6} "
                    f"{fmt(row.familywise_error):>6} {fmt(row.mdd, 2):>6} {fmt(row.power):>6} "
                    f"{row.out_of_range:>5} {row.undecidable_indistinguishable:>6} "
                    f"{row.passable_underpowered:>5} {fmt(row.relabelled, 3):>6} "
                    f"{row.seconds:>8.1f}",
                    flush=True,
                )
    return rows


def method_table(replicates: int) -> None:
    print(
        f"\nInterval methods ({replicates} replicates, shared judges): coverage of cells / pairs,"
        " and the pairs' median width (composite points)"
    )
    print(f"{'cells':>5} {'scen.':>5} " + " ".join(f"{m:>27}" for m in METHODS))
    for cells in CELLS:
        for n in SCENARIOS:
            parts = []
            for method in METHODS:
                design = sim.Design(cells, n, method=method, n_boot=1000)
                run = sim.analyse(design, sim.experiment(design, replicates, seed=77 + n), seed=3)
                width = (run.comparisons["diff_hi"] - run.comparisons["diff_lo"]).median()
                parts.append(
                    f"{fmt(sim.cell_coverage(run))} / {fmt(sim.pair_coverage(run))} "
                    f"w {fmt(width, 2)}"
                )
            print(f"{cells:>5} {n:>5} " + " ".join(f"{p:>27}" for p in parts), flush=True)


def budget() -> None:
    frames = compare_scale.synthetic_frames(0)
    start = time.perf_counter()
    ours = compare_scale.time_statistics(frames)
    rep = compare_scale.time_report(frames, ours["results"])
    total = time.perf_counter() - start
    print(
        f"\ncompare-scale budget (20 models x 5 prompts x 50 scenarios x 5 tips x 2 judges): "
        f"statistics {ours['total_s']:.2f} s + report {rep['total_s']:.2f} s = {total:.2f} s "
        f"(target <= 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="100 replicates, no method table")
    parser.add_argument(
        "--ceiling", action="store_true", help="only the ceiling table (issue 18), 6 and 20 cells"
    )
    parser.add_argument("--cells", type=int, nargs="+", default=list(CELLS))
    args = parser.parse_args()
    replicates = 100 if args.quick else args.replicates
    if args.ceiling:
        ceiling_table(replicates, tuple(args.cells))
        return
    validity_table(replicates, baseline=False)
    validity_table(replicates, baseline=True)
    if not args.quick:
        method_table(replicates)
    ceiling_table(replicates)
    budget()


if __name__ == "__main__":
    main()
