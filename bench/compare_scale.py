"""How fast is the compare phase at scale, and how much does vectorising buy?

A synthetic snapshot of 20 models x 5 prompts x 50 scenarios x 5 tips x 2 judges (100 cells,
4,950 pairs) goes through the full statistics of ``tipbench_lib.stats``; in the same run a baseline
does the textbook thing with scipy: ``scipy.stats.bootstrap`` per cell and per metric, and per pair
``scipy.stats.bootstrap`` + ``scipy.stats.wilcoxon`` + ``scipy.stats.permutation_test``. The
baseline runs every cell but only a random sample of pairs, extrapolated to all pairs (printed as
such). Targets: the full statistics within 10 s, and at least 20x faster than the baseline.

Run: ``.venv/bin/python bench/compare_scale.py [--pair-sample 200]``

The statistics half is :func:`time_statistics` (step by step, for the breakdown and the scipy
ratio); :func:`time_report` times what a user of ``tipbench compare`` pays end to end: the whole
analysis (:func:`tipbench_lib.compare.analysis.analyse`: the same statistics plus the length-
adjusted view and the words), the offline page and the CSVs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from tipbench_lib import stats
from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import Options, analyse
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.compare.tables import write_tables
from tipbench_lib.validation import synthetic
from tipbench_lib.validation.synthetic import DIMENSIONS

Frames = Mapping[str, pl.DataFrame]
"""``{"cells": ..., "candidates": ..., "judgments": ...}``, as ``compare.load`` loads them."""

SHAPE = {"n_models": 20, "n_prompts": 5, "n_scenarios": 50, "n_tips": 5, "n_judges": 2}
N_BOOT = 2000
N_PERM = 10000
METRICS = ("composite", *DIMENSIONS)


def synthetic_frames(seed: int = 0) -> Frames:
    """The benchmark's snapshot: one LLM judge and one human, so every statistic has work."""
    experiment = synthetic.generate(**SHAPE, llm_judges=1, seed=seed)
    return {
        "cells": experiment.cells,
        "candidates": experiment.candidates,
        "judgments": experiment.judgments,
    }


def _timed(seconds: dict[str, float], name: str, call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = call()
    seconds[name] = time.perf_counter() - start
    return result


def time_statistics(frames: Frames) -> dict[str, Any]:
    """Run and time every statistic the compare phase reports.

    Returns ``{"seconds": {step: s}, "total_s": s, "results": {name: frame}}`` so a caller (the
    report timing) can reuse the frames instead of computing them again.
    """
    cells, candidates, judgments = frames["cells"], frames["candidates"], frames["judgments"]
    seconds: dict[str, float] = {}
    scores = _timed(seconds, "score_table", lambda: stats.score_table(cells, candidates, judgments))
    judged = _timed(
        seconds, "judge_scores", lambda: stats.judge_scores(cells, candidates, judgments)
    )
    tips = stats.judges.tip_scenarios(cells, candidates)
    panel = _timed(
        seconds, "judge_panel", lambda: stats.judges.judge_panel(judgments, scenarios=tips)
    )
    board = _timed(seconds, "leaderboard", lambda: stats.leaderboard(scores, n_boot=N_BOOT))
    pairs = _timed(
        seconds,
        "compare_pairs",
        lambda: stats.compare_pairs(judged, n_boot=N_BOOT, n_perm=N_PERM),
    )
    agreement = _timed(seconds, "judge_agreement", lambda: stats.judge_agreement(judgments))
    llm = _timed(seconds, "llm_vs_human", lambda: stats.llm_vs_human(judgments))
    length = _timed(seconds, "length_effect", lambda: stats.length_effect(scores))
    _timed(
        seconds,
        "length_adjusted",
        lambda: stats.length_adjusted(stats.judgment_scores(cells, candidates, judgments)),
    )
    speed = _timed(seconds, "speed_by_model", lambda: stats.speed_by_model(candidates, cells))
    front = _timed(seconds, "pareto_front", lambda: stats.pareto_front(board, speed))
    return {
        "seconds": seconds,
        "total_s": sum(seconds.values()),
        "results": {
            "scores": scores,
            "leaderboard": board,
            "comparisons": pairs,
            "panel": panel,
            "agreement": agreement,
            "llm_vs_human": llm,
            "length": length,
            "speed": speed,
            "pareto": front,
        },
    }


def _scipy_cell(values: np.ndarray) -> tuple[float, float]:
    result = sps.bootstrap(
        (values,), np.mean, n_resamples=N_BOOT, method="percentile", rng=0
    ).confidence_interval
    return result.low, result.high


def _scipy_pair(diffs: np.ndarray) -> tuple[float, ...]:
    """What one pair costs done per pair: interval, signed-rank test, permutation test."""
    interval = sps.bootstrap(
        (diffs,), np.mean, n_resamples=N_BOOT, method="percentile", rng=0
    ).confidence_interval
    p_rank = sps.wilcoxon(diffs).pvalue
    p_perm = sps.permutation_test(
        (diffs,),
        np.mean,
        permutation_type="samples",
        n_resamples=N_PERM,
        vectorized=True,
        axis=-1,
        rng=0,
    ).pvalue
    return interval.low, interval.high, p_rank, p_perm


def time_scipy_baseline(frames: Frames, pair_sample: int = 200, seed: int = 0) -> dict[str, Any]:
    """Per-cell and per-pair scipy calls; pairs are sampled and the time extrapolated.

    The baseline bootstraps scenario means in one stage (simpler than the library's two stages),
    so it is, if anything, flattered.
    """
    scores = stats.score_table(frames["cells"], frames["candidates"], frames["judgments"])
    means = stats.scenario_means(scores).sort("model", "prompt_version", "scenario_id")
    groups = means.partition_by("model", "prompt_version", maintain_order=True)
    start = time.perf_counter()
    for group in groups:
        for metric in METRICS:
            _scipy_cell(group[metric].to_numpy())
    cells_s = time.perf_counter() - start

    matrix = np.stack([g["composite"].to_numpy() for g in groups])  # balanced: same scenarios
    a, b = np.triu_indices(len(groups), k=1)
    chosen = np.random.default_rng(seed).choice(
        len(a), size=min(pair_sample, len(a)), replace=False
    )
    start = time.perf_counter()
    for i in chosen:
        _scipy_pair(matrix[a[i]] - matrix[b[i]])
    sample_s = time.perf_counter() - start
    pairs_s = sample_s / len(chosen) * len(a)
    return {
        "cells_s": cells_s,
        "pairs_sampled": len(chosen),
        "pairs_total": len(a),
        "pairs_sample_s": sample_s,
        "pairs_s_extrapolated": pairs_s,
        "total_s": cells_s + pairs_s,
    }


# ---------------------------------------------------------------- the report (charts/report part)


def time_report(frames: Frames) -> dict[str, Any]:
    """Time the compare command's work after loading: the analysis, report.html and the CSVs.

    The Vega JavaScript bundle is built once per process (then cached), so its cost is timed on
    its own: a notebook pays it once, a script run pays it every time.
    """
    seconds: dict[str, float] = {}
    _timed(seconds, "vega_bundle (once)", report.vega_bundle)
    data = ExperimentData(frames["cells"], frames["candidates"], frames["judgments"])
    analysis = _timed(
        seconds, "analyse", lambda: analyse(data, Options(n_boot=N_BOOT, n_perm=N_PERM))
    )
    with tempfile.TemporaryDirectory(prefix="tipbench-report-") as out:
        page = _timed(seconds, "write_report", lambda: report.write_report(Path(out), analysis))
        size = page.stat().st_size
        _timed(
            seconds,
            "write_tables",
            lambda: write_tables(
                Path(out),
                analysis.leaderboard,
                analysis.comparisons,
                dimensions=analysis.rubric.dimension_ids,
            ),
        )
    return {"seconds": seconds, "total_s": sum(seconds.values()), "html_bytes": size}


def print_report_timing(timing: Mapping[str, Any]) -> None:
    print(
        "compare after loading (the analysis with its words; report.html with 9 inlined charts; "
        "leaderboard.csv, comparisons.csv):"
    )
    for step, seconds in timing["seconds"].items():
        print(f"  {step:<19} {seconds:8.3f} s")
    print(f"  {'total':<19} {timing['total_s']:8.3f} s  ({timing['html_bytes'] / 1e6:.1f} MB html)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair-sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frames = synthetic_frames(args.seed)
    print(
        "snapshot: {n_models} models x {n_prompts} prompts x {n_scenarios} scenarios x "
        "{n_tips} tips x {n_judges} judges".format(**SHAPE),
        f"= {frames['judgments'].height:,} judgments",
    )
    ours = time_statistics(frames)
    print(f"tipbench statistics (n_boot={N_BOOT}, n_perm={N_PERM}):")
    for step, seconds in ours["seconds"].items():
        print(f"  {step:<16} {seconds:8.3f} s")
    n_pairs = ours["results"]["comparisons"].height
    print(f"  {'total':<16} {ours['total_s']:8.3f} s  ({n_pairs:,} pairs)")

    rep = time_report(frames)
    print_report_timing(rep)

    base = time_scipy_baseline(frames, args.pair_sample, args.seed)
    print(
        "scipy baseline (per cell: bootstrap x 4 metrics; per pair: bootstrap + wilcoxon + "
        "permutation_test):"
    )
    print(f"  cells (all)      {base['cells_s']:8.3f} s")
    print(
        f"  pairs            {base['pairs_s_extrapolated']:8.3f} s  (measured "
        f"{base['pairs_sample_s']:.2f} s on {base['pairs_sampled']} random pairs, "
        f"extrapolated to {base['pairs_total']:,})"
    )
    print(f"  total            {base['total_s']:8.3f} s")
    ratio = base["total_s"] / ours["total_s"]
    print(
        f"speed-up: {ratio:.1f}x (target >= 20x); full statistics {ours['total_s']:.2f} s "
        f"(target <= 10 s)"
    )
    print(f"full compare (analysis + report + tables): {rep['total_s']:.2f} s (target <= 10 s)")


if __name__ == "__main__":
    main()
