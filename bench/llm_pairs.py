"""The LLM judge of pairs against the rubric LLM judge, on the same real tips, side by side.

Takes a demo-sized experiment out of the shipped sample (``tipbench_lib/data/sample``: real tips
of smollm2-135m and gemma3-270m, prompt v1, the first 10 scenarios; the demo's grid) and, with
one embedded judge model loaded once:

- the pairwise judge (``judge/llm_pairs``): every scenario × every two cells, ``--pairs-per-cell``
  tip pairs drawn with seed 0, each pair shown in both orders;
- the rubric judge (``judge/llm``): every tip those pairs use, scored once;

alternating by half (rubric then pairs on the first half of the scenarios, pairs then rubric on
the second), so both see the same machine load. Prints seconds per pair (both orders) and per
rubric tip, their ratio, the prompt tokens each request evaluated (the rubric and scenario are a
reused prefix in both), and the pair judge's order effect: the left side's share of decided
showings with its 95% interval over pairs (``stats.pairwise.position_bias``), the pairs whose
two orders disagreed and what the both-orders rule made of them.

    python bench/llm_pairs.py [--judge smollm2-135m] [--pairs-per-cell 2] [--scenarios 10]
                              [--tips 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from tipbench_lib.backends.embedded import EmbeddedBackend  # noqa: E402
from tipbench_lib.core.records import Candidate, JudgeSource  # noqa: E402
from tipbench_lib.core.rubric import load_rubric  # noqa: E402
from tipbench_lib.core.scenarios import ScenarioView, load_scenarios  # noqa: E402
from tipbench_lib.judge import llm, llm_pairs  # noqa: E402

SAMPLE = ROOT / "tipbench_lib" / "data" / "sample"
DEMO_CELLS = (("smollm2-135m", "v1"), ("gemma3-270m", "v1"))


def cpu_line() -> str:
    model = platform.processor() or "?"
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    wide = [f for f in ("avx2", "avx512f", "amx_tile") if f in flags]
    return f"CPU: {model}; {', '.join(wide)}; {len(os.sched_getaffinity(0))} cores for this process"


def sample_experiment(
    n_scenarios: int, n_tips: int
) -> tuple[dict[str, list[str]], dict[str, str], dict[str, Candidate], dict[str, ScenarioView]]:
    """(by_cell, scenario_of, candidates, views) for the demo's cells in the shipped sample."""
    cells = pl.read_parquet(SAMPLE / "cells.parquet")
    tips = pl.read_parquet(SAMPLE / "candidates.parquet")
    wanted = pl.DataFrame(DEMO_CELLS, schema=["model", "prompt_version"], orient="row")
    cells = cells.join(wanted, on=["model", "prompt_version"])
    scenarios = sorted(cells["scenario_id"].unique())[:n_scenarios]
    cells = cells.filter(pl.col("scenario_id").is_in(scenarios))
    views = {s.id: ScenarioView.of(s) for s in load_scenarios() if s.id in scenarios}
    scenario_of = dict(zip(cells["cell_id"], cells["scenario_id"], strict=True))
    by_cell: dict[str, list[str]] = {}
    candidates: dict[str, Candidate] = {}
    for row in (
        tips.filter(pl.col("cell_id").is_in(list(scenario_of)))
        .sort("sample_index")
        .rows(named=True)
    ):
        if len(by_cell.setdefault(row["cell_id"], [])) >= n_tips:
            continue
        by_cell[row["cell_id"]].append(row["candidate_id"])
        candidates[row["candidate_id"]] = Candidate(
            row["candidate_id"],
            row["cell_id"],
            row["sample_index"],
            row["text"],
            row["latency_s"],
            row["eval_tokens"],
            row["tokens_per_s"],
            auto={"format_ok": row["format_ok_auto"], "overlong": row["overlong_auto"]},
        )
    return by_cell, scenario_of, candidates, views


class Recorded:
    """The backend, recording each generation's prompt cost and decode counts under a label."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.label = ""
        self.costs: dict[str, list[tuple[int, int, int]]] = {}

    def generate(self, model: str, request: Any) -> Any:
        gen = self.backend.generate(model, request)
        evaluated = int(gen.extra.get("prompt_tokens_evaluated", gen.prompt_tokens))
        row = (evaluated, int(gen.extra.get("prompt_tokens_reused", 0)), gen.eval_tokens)
        self.costs.setdefault(self.label, []).append(row)
        return gen


def judge_pairs(
    backend: Any, info: Any, rubric: Any, plan: list, texts: dict, views: dict
) -> tuple:
    source = JudgeSource("llm", f"llm:{info.name}", info.name, info.digest, info.parameter_count)
    records, seconds = [], []
    for pair in plan:
        started = time.perf_counter()
        records.append(
            llm_pairs.judge_pair(
                backend,
                info,
                rubric,
                views[pair.scenario_id],
                texts,
                pair,
                source,
                retries=llm.DEFAULT_RETRIES,
                options=llm_pairs.PAIR_OPTIONS,
            )
        )
        seconds.append(time.perf_counter() - started)
        print(f"    pair {len(seconds)}: {seconds[-1]:.1f} s, {records[-1].answer}", flush=True)
    return records, seconds


def judge_tips(backend: Any, info: Any, rubric: Any, tips: list, views: dict, scenario_of: dict):
    verdicts, seconds = [], []
    for candidate in tips:
        started = time.perf_counter()
        verdicts.append(
            llm.judge_one(
                backend,
                info,
                rubric,
                views[scenario_of[candidate.cell_id]],
                candidate,
                retries=llm.DEFAULT_RETRIES,
                seed=int(candidate.candidate_id[:8], 16),
                options=llm.JUDGE_OPTIONS,
            )
        )
        seconds.append(time.perf_counter() - started)
        print(f"    tip {len(seconds)}: {seconds[-1]:.1f} s", flush=True)
    return verdicts, seconds


def tips_of(plan: list, candidates: dict) -> list[Candidate]:
    """Every tip the pairs use, once, cell by cell (as the rubric judge goes)."""
    ids = sorted({c for p in plan for c in (p.candidate_a, p.candidate_b)})
    return sorted((candidates[c] for c in ids), key=lambda c: (c.cell_id, c.candidate_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="smollm2-135m")
    parser.add_argument("--pairs-per-cell", type=int, default=2)
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--tips", type=int, default=2, help="tips per cell (the demo's 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="llama.cpp threads (default: the cores this process may use; on a 2-core machine "
        "busy with other work one thread is faster, docs/architecture.md section 7)",
    )
    args = parser.parse_args()

    print(cpu_line())
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    by_cell, scenario_of, candidates, views = sample_experiment(args.scenarios, args.tips)
    plan = llm_pairs.pair_plan(by_cell, scenario_of, 0, args.pairs_per_cell)
    texts = {cid: c.text for cid, c in candidates.items()}
    rubric = load_rubric()
    scenarios = sorted(views)
    halves = (set(scenarios[: len(scenarios) // 2]), set(scenarios[len(scenarios) // 2 :]))
    print(
        f"sample: {len(by_cell)} cells ({', '.join(f'{m}:{p}' for m, p in DEMO_CELLS)}) × "
        f"{len(scenarios)} scenarios, {args.tips} tips per cell; {len(plan)} pairs "
        f"({args.pairs_per_cell} per cell pair, seed 0), "
        f"{len(tips_of(plan, candidates))} tips in them",
        flush=True,
    )
    pair_records, pair_s, tip_s = [], [], []
    verdicts: list = []
    with EmbeddedBackend(n_threads=args.threads) as backend:
        print(f"llama.cpp threads: {backend.n_threads}", flush=True)
        info = backend.describe(args.judge)
        backend.load(args.judge, llm.JUDGE_OPTIONS)
        recorded = Recorded(backend)
        for index, half in enumerate(halves):
            sub = [p for p in plan if p.scenario_id in half]
            order = ("rubric", "pairs") if index == 0 else ("pairs", "rubric")
            for what in order:
                recorded.label = what
                if what == "pairs":
                    records, seconds = judge_pairs(recorded, info, rubric, sub, texts, views)
                    pair_records += records
                    pair_s += seconds
                else:
                    found, seconds = judge_tips(
                        recorded, info, rubric, tips_of(sub, candidates), views, scenario_of
                    )
                    verdicts += found
                    tip_s += seconds
                print(
                    f"  half {index + 1}: {what} done ({len(seconds)} in {sum(seconds):.0f} s)",
                    flush=True,
                )
        backend.unload(args.judge)

    per_pair, per_tip = statistics.median(pair_s), statistics.median(tip_s)
    print(f"\njudge {args.judge} ({info.parameter_count:,} parameters), embedded, one model load")
    print(
        f"  pairwise: {len(pair_s)} pairs, median {per_pair:.2f} s per pair (both orders), "
        f"mean {statistics.mean(pair_s):.2f}, total {sum(pair_s):.0f} s"
    )
    print(
        f"  rubric:   {len(tip_s)} tips, median {per_tip:.2f} s per tip, "
        f"mean {statistics.mean(tip_s):.2f}, total {sum(tip_s):.0f} s"
    )
    print(
        f"  ratio: a pair (both orders) costs {per_pair / per_tip:.2f}× a rubric tip (medians), "
        f"{statistics.mean(pair_s) / statistics.mean(tip_s):.2f}× (means)"
    )
    for what, rows in sorted(recorded.costs.items()):
        evaluated, reused, decoded = (statistics.mean(column) for column in zip(*rows, strict=True))
        print(
            f"  {what} requests: {len(rows)}, per request {evaluated:.0f} prompt tokens "
            f"evaluated, {reused:.0f} reused from the cache, {decoded:.0f} decoded"
        )
    failed_pairs = sum(1 for r in pair_records if not r.ok)
    failed_tips = sum(1 for v in verdicts if v.scores is None)
    print(f"  failed after retries: {failed_pairs} pair(s), {failed_tips} tip(s)")
    for record in [r for r in pair_records if not r.ok][:3]:
        print(f"    pair {record.pair_id}: {record.error[:200]}")
    effect = llm_pairs.order_effect(pair_records)
    answers = Counter(r.answer for r in pair_records if r.ok)
    print(f"\nposition bias of {args.judge} on {effect.pairs} pairs ({2 * effect.pairs} showings):")
    for line in effect.lines():
        print(line)
    print(f"  pair answers after the both-orders rule: {dict(sorted(answers.items()))}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
