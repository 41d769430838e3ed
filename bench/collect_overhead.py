"""How close the collect phase comes to the ideal: generation time plus one load per model.

Runs the same grid three ways against the Ollama stand-in (fixed load and generation times),
side by side in one run, with MLflow logging to a real local server in all three:
  tipbench   one resident model, model-major order, each model loaded once
  keep0      keep_alive=0 on every request (the common "safe" approach: a reload per request)
  defaults   Ollama's defaults, no unloading (fast, but several models pile up in memory)
Then ``--diversity`` on models that often repeat themselves (a few texts, picked by seed): the
extra generations it asks for and their cost against the same grid without it, and the cells'
distinct ratio; and the same grid rerun with an empty journal (another worker), which adopts every
cell from MLflow instead of generating it. Last, a small grid on the embedded backend with the
real models: tokens per second and the ratio of wall time to (sum of generation times + load
times).

    python bench/collect_overhead.py [--load-s 1.0] [--gen-s 0.2] [--skip-embedded]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ollama_standin import FakeModel, OllamaStandIn  # noqa: E402
from tipbench_lib.backends.base import GenerationOptions  # noqa: E402
from tipbench_lib.backends.ollama import OllamaBackend  # noqa: E402
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared  # noqa: E402
from tipbench_lib.collect.journal import CollectJournal  # noqa: E402
from tipbench_lib.core.bigrams import distinct_ratio  # noqa: E402
from tipbench_lib.tracking.client import MlflowClient  # noqa: E402
from tipbench_lib.tracking.server import LocalMlflowServer  # noqa: E402

MODELS = [FakeModel(f"bench-{c}", 1_500_000_000) for c in "abc"]
REPEATING = [
    FakeModel(
        f"bench-rep-{c}",
        1_500_000_000,
        texts=(
            "Put your phone in a drawer for the next half hour of focused work.",
            "Put your phone in a drawer for the next half hour of focused work!",
            "Write the three tasks for tomorrow on a sticky note before you leave.",
            "Take a ten minute walk outside after lunch to reset your attention.",
            "Answer the two oldest emails first, then close the inbox until noon.",
        ),
    )
    for c in "abc"
]


class NoUnloadBackend(OllamaBackend):
    """Ollama's defaults: load by using the model, never unload, default keep_alive."""

    def load(self, model, options):  # type: ignore[override]
        started = time.perf_counter()
        self._client().generate(model=model, prompt="", options={"num_ctx": options.num_ctx})
        self._num_ctx[model] = options.num_ctx
        self._keep_alive[model] = 300
        return time.perf_counter() - started

    def unload(self, model):  # type: ignore[override]
        return None

    def close(self):  # type: ignore[override]
        return None


@dataclass
class Result:
    name: str
    wall_s: float
    loads: int
    cells: int


def run_variant(name, backend_factory, standin, client, request) -> Result:
    before = len(standin.loads())
    backend = backend_factory(standin.url)
    started = time.perf_counter()
    try:
        summary = run_prepared(prepare(request, backend, client), backend, client)
    finally:
        backend.close()
    wall = time.perf_counter() - started
    assert summary.exit_code == 0, summary.lines()
    return Result(name, wall, len(standin.loads()) - before, len(summary.finished))


def stand_in_bench(args, client) -> None:
    n_models, n_prompts, n_scen, n_tips = 3, 2, args.scenarios, args.n_tips
    n_gen = n_models * n_prompts * n_scen * n_tips
    ideal = n_gen * args.gen_s + n_models * args.load_s
    print(
        f"grid: {n_models} models x {n_prompts} prompts x {n_scen} scenarios x {n_tips} tips = "
        f"{n_gen} generations; load {args.load_s} s, generation {args.gen_s} s"
    )
    print(f"ideal (generation + one load per model): {ideal:.2f} s\n")
    variants = [
        ("tipbench", lambda url: OllamaBackend(url)),
        ("keep0", lambda url: OllamaBackend(url, strict_unload=True)),
        ("defaults", lambda url: NoUnloadBackend(url)),
    ]
    print(f"{'scheduler':<10} {'wall s':>8} {'x ideal':>8} {'loads':>6} {'peak resident':>14}")
    for name, factory in variants:
        # A fresh stand-in per variant: nothing resident at the start, peak counted per variant.
        with OllamaStandIn(MODELS, load_s=args.load_s, gen_s=args.gen_s) as standin:
            request = CollectRequest(
                experiment=f"bench-{name}-{time.time_ns()}",
                models=tuple(m.name for m in MODELS),
                prompts=("v1", "v2-mentor"),
                scenarios=str(n_scen),
                n_tips=n_tips,
                options=GenerationOptions(max_tokens=32),
            )
            result = run_variant(name, factory, standin, client, request)
            peak = standin.max_resident
        print(
            f"{name:<10} {result.wall_s:8.2f} {result.wall_s / ideal:8.3f} {result.loads:6d} "
            f"{peak:14d}"
        )
    print("\n(tipbench target: <= 1.10x the ideal with MLflow logging included, peak resident 1)")


def diversity_bench(args, client) -> None:
    """--diversity's extra generations and their cost, then a rerun on an empty journal."""
    n_tips = max(3, args.n_tips)
    print(
        f"\n--diversity: {len(REPEATING)} models that often repeat (5 texts, 2 near repeats) x 2 "
        f"prompts x {args.scenarios} scenarios x {n_tips} tips"
    )
    print(f"{'run':<22} {'wall s':>8} {'generations':>12} {'mean distinct ratio':>20}")
    walls = {}
    with OllamaStandIn(REPEATING, load_s=args.load_s, gen_s=args.gen_s) as standin:
        for name, diversity in (("without --diversity", False), ("with --diversity", True)):
            request = CollectRequest(
                experiment=f"bench-diversity-{diversity}-{time.time_ns()}",
                models=tuple(m.name for m in REPEATING),
                prompts=("v1", "v2-mentor"),
                scenarios=str(args.scenarios),
                n_tips=n_tips,
                options=GenerationOptions(max_tokens=32),
                diversity=diversity,
            )
            before = len(standin.generation_requests())
            result = run_variant(name, OllamaBackend, standin, client, request)
            generations = len(standin.generation_requests()) - before
            state = CollectJournal(request.experiment).state()
            ratios = [
                distinct_ratio([c.text for c in state.candidate_list(cid)]) for cid in state.cells
            ]
            walls[name] = result.wall_s
            print(
                f"{name:<22} {result.wall_s:8.2f} {generations:12d} "
                f"{sum(ratios) / len(ratios):20.3f}"
            )
        print(
            f"--diversity costs {walls['with --diversity'] / walls['without --diversity']:.2f}x "
            "the wall time of the same grid without it"
        )
        home = os.environ["TIPBENCH_HOME"]
        os.environ["TIPBENCH_HOME"] = f"{home}-other-worker"
        try:
            before = len(standin.generation_requests())
            again = run_variant("adopt", OllamaBackend, standin, client, request)
        finally:
            os.environ["TIPBENCH_HOME"] = home
        print(
            f"rerun on an empty journal (another worker): {again.wall_s:.2f} s, "
            f"{len(standin.generation_requests()) - before} generations, {again.loads} loads "
            f"({again.wall_s / walls['with --diversity']:.3f}x the run that generated the cells)"
        )


def embedded_bench(client, scenarios: int, n_tips: int) -> None:
    from tipbench_lib.backends.embedded import EmbeddedBackend

    experiment = f"bench-embedded-{time.time_ns()}"
    request = CollectRequest(
        experiment=experiment,
        models=("smollm2-135m", "gemma3-270m"),
        prompts=("v1", "v3-few-shot"),
        scenarios=str(scenarios),
        n_tips=n_tips,
        options=GenerationOptions(max_tokens=64),
    )
    backend = EmbeddedBackend()
    started = time.perf_counter()
    try:
        prepared = prepare(request, backend, client)
        summary = run_prepared(prepared, backend, client)
    finally:
        backend.close()
    wall = time.perf_counter() - started
    state = CollectJournal(experiment).state()
    gen = sum(c.latency_s for cands in state.candidates.values() for c in cands.values())
    loads = sum(s.load_s for s in summary.models.values())
    ideal = gen + loads
    print(f"\nembedded grid: 2 models x 2 prompts x {scenarios} scenarios x {n_tips} tips")
    for name, stats in summary.models.items():
        print(f"  {name}: {stats.tokens_per_s:.1f} tokens/s, load {stats.load_s:.2f} s")
    print(
        f"  wall {wall:.2f} s, generation+loads {ideal:.2f} s, ratio {wall / ideal:.3f}x "
        "(includes planning, describing models, journal and MLflow logging)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-s", type=float, default=1.0)
    parser.add_argument("--gen-s", type=float, default=0.2)
    parser.add_argument("--scenarios", type=int, default=3)
    parser.add_argument("--n-tips", type=int, default=2)
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TIPBENCH_HOME"] = str(Path(tmp) / "home")
        with LocalMlflowServer(Path(tmp) / "mlflow") as server, MlflowClient(server.url) as client:
            stand_in_bench(args, client)
            diversity_bench(args, client)
            if not args.skip_embedded:
                embedded_bench(client, scenarios=2, n_tips=2)


if __name__ == "__main__":
    main()
