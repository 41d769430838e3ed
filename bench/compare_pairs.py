"""How much do pairwise judgments add to compare's analysis, and where does that time go?

A realistic experiment is built in memory: 20 cells (10 models x 2 prompts) x 24 scenarios x K
tips, scored on the rubric by three simulated people and one LLM judge
(:func:`tipbench_lib.validation.synthetic.generate`, as ``bench/compare_scale.py``), and judged
in pairs by the same four: every cell pair of every scenario on K tip pairs (tip k against tip
k), the people once each with their own lean and position bias, the LLM judge in both orders
with a strong lean to the left (:func:`tipbench_lib.validation.pair_simulation.answers`, the
same latent cell effects as the rubric's). :func:`tipbench_lib.compare.analysis.analyse` runs on
it with and without the pairs, alternated: with pairs from nothing (the first analysis, or a
judge-view change, which changes the pairs counted) and after the baseline control changed (the
notebook runs the analysis again on every change of a control); the ratios to the same analysis
without pairs are printed with a per-stage trace of
:func:`tipbench_lib.compare.pairwise_view.pairwise_view` (cProfile, cumulative seconds of the
functions it calls).

``--baseline-ref REF`` runs the same measurement on another commit side by side: the commit's
files are exported (``git archive``) to a temporary directory and each measurement runs in a
fresh interpreter with that directory first on the path (so its ``tipbench_lib`` is imported),
alternating REF and this tree round by round so both see the same load; it also says whether
the two produce the same numbers.

Run: ``nice .venv/bin/python bench/compare_pairs.py [--tips 2] [--rounds 3] [--baseline-ref main]``
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

N_MODELS, N_PROMPTS, N_SCENARIOS = 10, 2, 24
PEOPLE_LEANS = (-0.5, 0.0, 0.5)
PEOPLE_POSITION = (0.0, 0.2, 0.4)
LLM_LEAN, LLM_POSITION = 0.3, 1.0
N_BOOT, N_PERM = 2000, 10000
BASELINE = ("model-03", "v1")
"""The baseline the bench switches to, as a user does in the compare notebook."""
STAGES = (
    "pair_outcomes",
    "pair_judges",
    "pair_judge_panel",
    "compare_pairwise",
    "strengths",
    "strengths_with_resamples",
    "fit",
    "rank_agreement",
    "win_matrix",
    "position_bias",
    "with_verdicts",
    "with_shares_against",
    "with_cell_judges",
)
"""The functions of the pairwise view whose cumulative time the trace prints."""
ROOT = Path(__file__).resolve().parent.parent


def experiment(n_tips: int, seed: int = 0) -> tuple[Any, pl.DataFrame]:
    """The rubric's synthetic experiment and its pairs frame (``core/schema.PAIRS``)."""
    from tipbench_lib.core.frames import pairs_frame
    from tipbench_lib.core.records import pair_id
    from tipbench_lib.core.schema import PAIRS
    from tipbench_lib.stats.pairs import pair_slots
    from tipbench_lib.validation import pair_simulation, synthetic

    rng = np.random.default_rng(seed)
    effects = rng.normal(0, 0.5, (N_MODELS, N_PROMPTS))
    exp = synthetic.generate(
        N_MODELS,
        N_PROMPTS,
        N_SCENARIOS,
        n_tips,
        n_judges=4,
        llm_judges=1,
        effects=effects,
        judge_biases=(*PEOPLE_LEANS, LLM_LEAN),
        seed=seed,
    )
    n_cells = N_MODELS * N_PROMPTS
    common = {
        "n_cells": n_cells,
        "n_scenarios": N_SCENARIOS,
        "n_tips": n_tips,
        "effects": tuple(float(e) for e in effects.ravel()),
    }
    people = pair_simulation.Setup(**common, leans=PEOPLE_LEANS, position=PEOPLE_POSITION)
    llm = pair_simulation.Setup(
        **common, leans=(LLM_LEAN,), position=(LLM_POSITION,), both_orders=True, judge_kind="llm"
    )
    judges = [(people, ["judge-0", "judge-1", "judge-2"]), (llm, ["judge-3"])]
    cells = exp.cells.sort("model", "prompt_version", "scenario_id")
    cell_ids = cells["cell_id"].to_numpy().reshape(n_cells, N_SCENARIOS)
    scenario_ids = cells["scenario_id"].to_numpy()[:N_SCENARIOS]
    tips = (
        exp.candidates.join(cells.select("cell_id", "model", "prompt_version"), on="cell_id")
        .sort("model", "prompt_version", "cell_id", "candidate_id")["candidate_id"]
        .to_numpy()
        .reshape(n_cells, N_SCENARIOS, n_tips)
    )
    a, b = pair_slots(n_cells)
    frames = []
    for offset, (setup, names) in enumerate(judges):
        drawn = pair_simulation.answers(setup, 1, seed + 1 + offset)
        shape = drawn["win"].shape[1:]  # (pairs, scenarios, tips, judges)
        p, s, k, j = (x.ravel() for x in np.indices(shape))
        win = drawn["win"][0].ravel()
        cand_a, cand_b = tips[a[p], s, k], tips[b[p], s, k]
        frames.append(
            pl.DataFrame(
                {
                    "pair_id": [pair_id(x, y) for x, y in zip(cand_a, cand_b, strict=True)],
                    "scenario_id": scenario_ids[s],
                    "candidate_a": cand_a,
                    "candidate_b": cand_b,
                    "cell_a": cell_ids[a[p], s],
                    "cell_b": cell_ids[b[p], s],
                    "judge_id": np.array(names, dtype=object)[j],
                    "judge_kind": np.full(win.size, setup.judge_kind, dtype=object),
                    "judge_model": np.full(
                        win.size, "gemma3-4b" if setup.judge_kind == "llm" else "", dtype=object
                    ),
                    "rubric_version": np.full(win.size, "1", dtype=object),
                    "rubric_hash": np.full(win.size, "", dtype=object),
                    "question": np.full(win.size, "overall", dtype=object),
                    "answer": np.where(win > 0, "a", np.where(win < 0, "b", "tie")),
                    "n_showings": drawn["n_showings"][0].ravel(),
                    "n_left": drawn["n_left"][0].ravel(),
                    "n_right": drawn["n_right"][0].ravel(),
                    "created_at": np.full(win.size, np.datetime64("2026-12-01T09:00:00", "us")),
                    "note": np.full(win.size, "", dtype=object),
                }
            ).cast(PAIRS)  # type: ignore[arg-type]
        )
    pairs = pl.concat(frames).select(list(PAIRS))
    assert pairs.schema == pairs_frame([]).schema
    return exp, pairs


def data_of(exp: Any, pairs: pl.DataFrame | None) -> Any:
    from tipbench_lib.compare.load import ExperimentData

    data = ExperimentData(
        exp.cells, exp.candidates, exp.judgments, {"experiment": "bench-compare-pairs"}
    )
    return data if pairs is None else dataclasses.replace(data, pairs=pairs)


def fingerprint(analysis: Any) -> str:
    """A hash of every number and word of the pairwise view (same seeds: same hash)."""
    view = analysis.pairwise
    digest = hashlib.sha256()
    for name in (
        "outcomes",
        "leaderboard",
        "comparisons",
        "comparison_rows",
        "against_baseline",
        "matrix",
        "position_bias",
        "disagreements",
    ):
        frame = getattr(view, name)
        digest.update(name.encode())
        digest.update(frame.write_csv().encode())
    digest.update(repr(view.agreement.tau if view.agreement else None).encode())
    digest.update(repr((view.agreement.lo, view.agreement.hi) if view.agreement else None).encode())
    # The panel's agreement columns are left out: stats/pair_judges.pair_judge_panel pivots the
    # judges in group_by order, which varies from run to run, so its alpha moves in the last
    # bits and its "reference" lists judges in varying order, whatever commit runs.
    panel = view.judges.panel.select("judge_id", "kind", "n_judgments", "provisional")
    digest.update(panel.write_csv().encode())
    digest.update(view.headline.encode())
    digest.update("\n".join(view.verdict_lines).encode())
    return digest.hexdigest()[:16]


def trace(data: Any, options: Any) -> dict[str, float]:
    """Cumulative seconds of each :data:`STAGES` function in one profiled ``analyse``."""
    from tipbench_lib.compare.analysis import analyse

    profiler = cProfile.Profile()
    profiler.enable()
    analyse(data, options)
    profiler.disable()
    found: dict[str, float] = {}
    stats = pstats.Stats(profiler, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    for (path, _, name), row in stats.items():
        ours = "tipbench_lib" in Path(path).parts and "charts.py" not in path
        if ours and (name in STAGES or name in ("pairwise_view", "analyse")):
            found[name] = found.get(name, 0.0) + row[3]
    return found


def forget_fits() -> None:
    """Drop the strengths' kept resampled fits (commits without them keep none)."""
    from tipbench_lib.stats import bradley_terry

    getattr(bradley_terry, "forget_fits", lambda: None)()


def measure(n_tips: int, repeats: int, seed: int) -> dict[str, Any]:
    """Time ``analyse`` with and without pairs, alternated, in this interpreter.

    Per repeat: without pairs; with pairs from nothing (``cold``: the first analysis, or a
    judge-view change that changes the pairs counted); with pairs after the baseline control
    changed (``control``); without pairs with that baseline.
    """
    import tipbench_lib
    from tipbench_lib.compare import analysis
    from tipbench_lib.compare.analysis import Options, analyse

    exp, pairs = experiment(n_tips, seed)
    shown = Options(n_boot=N_BOOT, n_perm=N_PERM, seed=seed)
    named = dataclasses.replace(shown, baseline=BASELINE)
    with_pairs, without = data_of(exp, pairs), data_of(exp, None)
    first = analyse(with_pairs, shown)
    # warm: imports, compiled expressions, and stats/power's tables of each family's Holm
    # thresholds, which the first analysis with a named baseline fills (seconds, once)
    for data, options in ((without, shown), (with_pairs, named), (without, named)):
        analyse(data, options)
    view_seconds: list[float] = []
    real_view = analysis.pairwise_view

    def timed_view(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real_view(*args, **kwargs)
        finally:
            view_seconds.append(time.perf_counter() - start)

    analysis.pairwise_view = timed_view  # type: ignore[assignment]
    times: dict[str, list[float]] = {
        name: [] for name in ("without", "cold", "control", "without_named", "cold_view")
    }
    times["control_view"] = []
    steps = (
        ("without", without, shown, False),
        ("cold", with_pairs, shown, True),
        ("control", with_pairs, named, False),
        ("without_named", without, named, False),
    )
    for _ in range(repeats):
        for name, data, options, cold in steps:
            if cold:
                forget_fits()
            view_seconds.clear()
            start = time.perf_counter()
            analyse(data, options)
            times[name].append(time.perf_counter() - start)
            if name in ("cold", "control"):
                times[f"{name}_view"].append(sum(view_seconds))
    analysis.pairwise_view = real_view  # type: ignore[assignment]
    forget_fits()
    return {
        "library": str(Path(tipbench_lib.__file__).parent),
        "n_pairs": pairs.height,
        "times": times,
        "stages": trace(with_pairs, shown),
        "fingerprint": fingerprint(first),
    }


def _child(args: argparse.Namespace) -> None:
    json.dump(measure(args.tips, args.repeats, args.seed), sys.stdout)


def _run(library: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    if library is not None:
        env["PYTHONPATH"] = str(library) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, __file__, "--child", "--tips", str(args.tips)]
    command += ["--repeats", str(args.repeats), "--seed", str(args.seed)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def export(ref: str, into: Path) -> None:
    """The files of commit ``ref`` in ``into`` (``git archive``: no worktree, no checkout)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _summary(label: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    def pooled(name: str) -> list[float]:
        return [t for r in runs for t in r["times"][name]]

    def ratios(name: str, base: str) -> list[float]:
        return [
            w / o for r in runs for w, o in zip(r["times"][name], r["times"][base], strict=True)
        ]

    med = {
        "without": statistics.median(pooled("without")),
        "cold": statistics.median(pooled("cold")),
        "control": statistics.median(pooled("control")),
        "ratio": statistics.median(ratios("cold", "without")),
        "control_ratio": statistics.median(ratios("control", "without_named")),
    }
    med["cold_view"] = statistics.median(pooled("cold_view"))
    med["control_view"] = statistics.median(pooled("control_view"))
    n = len(pooled("cold"))
    print(
        f"  without pairs {med['without']:6.2f} s | with pairs {med['cold']:6.2f} s, ratio "
        f"{med['ratio']:5.2f}x | after a baseline change {med['control']:6.2f} s, ratio "
        f"{med['control_ratio']:5.2f}x  (medians of {n}; with pairs "
        f"{min(pooled('cold')):.2f}-{max(pooled('cold')):.2f} s)"
    )
    print(
        f"  of which the pairwise view: {med['cold_view']:.2f} s with pairs, "
        f"{med['control_view']:.2f} s after a baseline change"
    )
    return med


def _stages(label: str, runs: list[dict[str, Any]]) -> None:
    names = ["analyse", "pairwise_view", *STAGES]
    print(f"  {label}: cumulative s per call tree (cProfile, one run; inflated by profiling)")
    for name in names:
        values = [r["stages"].get(name) for r in runs if name in r["stages"]]
        if values:
            print(f"    {name:<20} {statistics.median(values):7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tips", type=int, default=2, help="K tips per cell (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh interpreters per tree")
    parser.add_argument("--repeats", type=int, default=2, help="timed pairs of runs per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-ref", help="a git commit to measure side by side")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    trees: list[tuple[str, Path | None]] = [("this tree", ROOT)]
    tree = None
    if args.baseline_ref:
        tree = tempfile.TemporaryDirectory(prefix="tipbench-baseline-")
        export(args.baseline_ref, Path(tree.name))
        trees.insert(0, (args.baseline_ref, Path(tree.name)))
    try:
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
        for _ in range(args.rounds):
            for label, path in trees:
                runs[label].append(_run(path, args))
    finally:
        if tree is not None:
            tree.cleanup()
    first = runs[trees[-1][0]][0]
    print(
        f"experiment: {N_MODELS * N_PROMPTS} cells x {N_SCENARIOS} scenarios x {args.tips} tips, "
        f"3 people + 1 LLM judge; {first['n_pairs']:,} pair judgments; n_boot={N_BOOT}, "
        f"n_perm={N_PERM}; {args.rounds} rounds x {args.repeats} alternated repeats per tree"
    )
    print(f"load average at the end: {os.getloadavg()}")
    summaries = {}
    for label, _ in trees:
        libraries = {r["library"] for r in runs[label]}
        print(f"{label} (tipbench_lib from {', '.join(sorted(libraries))}):")
        summaries[label] = _summary(label, runs[label])
    for label, _ in trees:
        _stages(label, runs[label])
    prints = {label: {r["fingerprint"] for r in runs[label]} for label, _ in trees}
    for label, found in prints.items():
        print(f"  {label}: pairwise view fingerprint {', '.join(sorted(found))}")
    if len(trees) == 2:
        base, ours = (summaries[label] for label, _ in trees)
        same = prints[trees[0][0]] == prints[trees[1][0]]
        print(
            f"with pairs: {base['cold']:.2f} s -> {ours['cold']:.2f} s "
            f"({base['cold'] / ours['cold']:.1f}x faster), ratio to without "
            f"{base['ratio']:.2f}x -> {ours['ratio']:.2f}x; after a baseline change "
            f"{base['control']:.2f} s -> {ours['control']:.2f} s "
            f"({base['control'] / ours['control']:.1f}x faster), ratio "
            f"{base['control_ratio']:.2f}x -> {ours['control_ratio']:.2f}x; pairwise numbers "
            f"identical: {same}"
        )


if __name__ == "__main__":
    main()
