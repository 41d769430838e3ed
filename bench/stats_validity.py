"""Do the verdicts keep their promises? Coverage, family-wise error and power, by simulation.

For 6 and 20 cells at 6, 8, 12 and 24 scenarios, with discrete 1-5 scores (2 tips per cell and
scenario, so scenario means tie often), three judges biased by -0.4, 0 and +0.4 on the latent
scale, 5% of judgments failing, and two judge designs (every judge scores every cell; each cell
scored by one judge only), :mod:`tipbench_lib.simulation` measures:

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

Run: ``.venv/bin/python bench/stats_validity.py [--replicates 400] [--quick]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_scale  # noqa: E402  (the sibling benchmark, run as a module here)

from tipbench_lib import simulation as sim  # noqa: E402

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
    args = parser.parse_args()
    replicates = 100 if args.quick else args.replicates
    validity_table(replicates, baseline=False)
    validity_table(replicates, baseline=True)
    if not args.quick:
        method_table(replicates)
    budget()


if __name__ == "__main__":
    main()
