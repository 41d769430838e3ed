"""How close the collect phase comes to the ideal: generation time plus one load per model.

Runs the same grid three ways against the Ollama stand-in (fixed load and generation times),
side by side in one run, with MLflow logging to a real local server in all three:
  tipbench   one resident model, model-major order, each model loaded once
  keep0      keep_alive=0 on every request (the common "safe" approach: a reload per request)
  defaults   Ollama's defaults, no unloading (fast, but several models pile up in memory)
Then ``--diversity`` on models that often repeat themselves (a few texts, picked by seed): the
extra generations it asks for and their cost against the same grid without it, and the cells'
distinct ratio; and the same grid rerun with an empty journal (another worker), which adopts every
cell from MLflow instead of generating it. Last, the embedded backend with the real models
(``--backend embedded`` runs this part alone), each "before" (the prompt cache reused in whole
``n_batch`` batches only, as up to issue 20) and "after" (the request's schedule,
``backends/prefix_reuse``) interleaved on the same loaded model in one run:
  - a cell's cost with K tips / its cost with 1 tip, per model, beside the bound
    1 + (K-1) x generation share;
  - the LLM judge's seconds per tip over a few cells of K tips, and where they go (prompt
    evaluation, decoding, sampling with the grammar, JSON parsing);
  - n_threads = the cores this process may use, against one thread less;
  - a small collect grid: tokens per second and wall time / (generation + loads).

    python bench/collect_overhead.py [--load-s 1.0] [--gen-s 0.2] [--backend all|standin|embedded]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def whole_batches_generate(llm: Any, generate: Callable[..., Any]) -> Callable[..., Any]:
    """The reuse up to issue 20 (the "before"): the cache cut at a whole ``n_batch`` boundary."""
    n_batch = max(1, int(llm.n_batch))

    def aligned_generate(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        tokens = list(tokens)
        common = 0
        for cached, wanted in zip(llm._input_ids, tokens[:-1], strict=False):
            if cached != wanted:
                break
            common += 1
        boundary = (common // n_batch) * n_batch
        if boundary == 0:
            llm.reset()
        else:
            llm.n_tokens = boundary
        return generate(tokens, *args, **kwargs)

    return aligned_generate


class Engine:
    """One loaded embedded model whose prompt evaluation switches between before and after."""

    def __init__(self, backend: Any, model: str, options: GenerationOptions) -> None:
        self.backend, self.model = backend, model
        backend.load(model, options)
        resident = backend._resident
        self.llm, self.prompts = resident.llm, resident.prompts
        assert self.prompts is not None, "the prompt schedule could not be installed"
        self.before = whole_batches_generate(self.llm, self.prompts._generate)

    @contextmanager
    def path(self, name: str) -> Iterator[None]:
        """Run the block on ``name``'s path ("before"/"after"), from an empty cache."""
        self.llm.reset()
        self.prompts._held = ()
        self.llm.generate = self.before if name == "before" else self.prompts.generate
        self.backend._resident.prompts = None if name == "before" else self.prompts
        try:
            yield
        finally:
            self.llm.generate = self.prompts.generate
            self.backend._resident.prompts = self.prompts


def cpu_line() -> str:
    model = platform.processor() or "?"
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wide = [f for f in ("avx2", "avx512f", "amx_tile") if f in flags]
    cores = len(os.sched_getaffinity(0))
    return f"CPU: {model}; {', '.join(wide) or 'no avx2'}; {cores} cores for this process"


def cell_ratio_bench(backend: Any, scenarios: int, n_tips: int) -> None:
    """A cell's cost with K tips / with 1 tip, before and after, interleaved by scenario."""
    from tipbench_lib.collect.plan import PlannedCell
    from tipbench_lib.core.prompts import get_prompt
    from tipbench_lib.core.scenarios import load_scenarios

    options = GenerationOptions(max_tokens=64)
    print(
        f"\na cell of K={n_tips} tips / a cell of 1 tip (prompt v1, {scenarios} scenarios, "
        "medians; bound = 1 + (K-1) x generation share of the 1-tip cell)"
    )
    print(
        f"{'model':<14} {'prompt tok':>10} {'path':<7} {'1 tip s':>8} {'K tips s':>9} "
        f"{'ratio':>6} {'bound':>6} {'prompt tok evaluated per cell':>30}"
    )
    for model in ("smollm2-135m", "gemma3-270m"):
        engine = Engine(backend, model, options)
        info = backend.describe(model)
        rows: dict[str, list[tuple[float, float, float, int]]] = {"before": [], "after": []}
        prompt_tokens = 0
        for scenario in load_scenarios()[:scenarios]:
            cell = PlannedCell(
                f"bench-{model}-{scenario.id}", info, get_prompt("v1"), scenario, options, 0, n_tips
            )
            for name in ("before", "after"):
                with engine.path(name):
                    gens = [backend.generate(model, cell.request(i)) for i in range(n_tips)]
                one = gens[0]
                share = (one.extra["eval_s"]) / one.latency_s
                evaluated = sum(g.extra["prompt_tokens_evaluated"] for g in gens)
                rows[name].append((one.latency_s, sum(g.latency_s for g in gens), share, evaluated))
                prompt_tokens = one.prompt_tokens
        for name, values in rows.items():
            one_s = statistics.median(v[0] for v in values)
            k_s = statistics.median(v[1] for v in values)
            ratio = statistics.median(v[1] / v[0] for v in values)
            bound = 1 + (n_tips - 1) * statistics.median(v[2] for v in values)
            evaluated = statistics.median(v[3] for v in values)
            print(
                f"{model:<14} {prompt_tokens:>10} {name:<7} {one_s:8.2f} {k_s:9.2f} "
                f"{ratio:6.2f} {bound:6.2f} {evaluated:30.0f}"
            )


def judge_bench(backend: Any, cells: int, n_tips: int) -> None:
    """The LLM judge's seconds per tip, before and after, cell by cell, and where they go."""
    from tipbench_lib.core.errors import JudgingError
    from tipbench_lib.core.records import Candidate
    from tipbench_lib.core.rubric import load_rubric
    from tipbench_lib.core.scenarios import ScenarioView, load_scenarios
    from tipbench_lib.judge import llm as llm_judge

    model, options = "smollm2-135m", llm_judge.JUDGE_OPTIONS
    rubric = load_rubric()
    engine = Engine(backend, model, options)
    info = backend.describe(model)
    tips = [
        "Finish the quiz before you sleep; it is due tomorrow.",
        "Block 25 minutes now for the budget draft, then take a short walk.",
        "Call the landlord first: it takes ten minutes and clears your head for the report.",
    ]
    views = [ScenarioView.of(s) for s in load_scenarios()[:cells]]
    parts: dict[str, dict[str, float]] = {}
    for name in ("before", "after"):
        parts[name] = dict.fromkeys(("wall", "prompt", "decode", "rest", "parse"), 0.0)
        parts[name]["evaluated"] = parts[name]["generated"] = 0.0
    judged = 0
    for view in views:
        for name in ("before", "after"):
            with engine.path(name):
                for index in range(n_tips):
                    tip = tips[index % len(tips)]
                    request = llm_judge.judge_request(info, rubric, view, tip, 7 + index, options)
                    gen = backend.generate(model, request)
                    started = time.perf_counter()
                    candidate = Candidate("c", "cell", index, tip, 1.0, 10, 10.0, auto={})
                    with contextlib.suppress(JudgingError):  # an invalid answer is parsed too
                        llm_judge.parse_answer(gen.text, candidate, rubric)
                    part = parts[name]
                    part["parse"] += time.perf_counter() - started
                    part["wall"] += gen.latency_s
                    part["prompt"] += gen.extra["prompt_eval_s"]
                    part["decode"] += gen.extra["eval_s"]
                    part["rest"] += gen.latency_s - gen.extra["prompt_eval_s"] - gen.extra["eval_s"]
                    part["evaluated"] += gen.extra["prompt_tokens_evaluated"]
                    part["generated"] += gen.eval_tokens
        judged += n_tips
    print(
        f"\nLLM judge ({model}, rubric prompt ~{gen.prompt_tokens} tokens): {cells} cells x "
        f"{n_tips} tips, seconds per tip"
    )
    print(
        f"{'path':<7} {'per tip':>8} {'prompt':>7} {'decode':>7} {'sampling+grammar':>17} "
        f"{'JSON parse':>11} {'prompt tok evaluated':>21} {'tokens generated':>17}"
    )
    for name, part in parts.items():
        per = {k: v / judged for k, v in part.items()}
        print(
            f"{name:<7} {per['wall']:8.2f} {per['prompt']:7.2f} {per['decode']:7.2f} "
            f"{per['rest']:17.2f} {per['parse'] * 1000:9.3f}ms {per['evaluated']:21.0f} "
            f"{per['generated']:17.1f}"
        )
    print(
        f"after / before: {parts['after']['wall'] / parts['before']['wall']:.2f}x the judge's time"
    )


def threads_bench(models_dir: Any, scenarios: int) -> None:
    """Tokens per second and time per tip with n_threads = the cores this process may use, and
    one fewer, interleaved tip by tip on two loaded copies of the model."""
    from tipbench_lib.backends.embedded import EmbeddedBackend, _available_cores
    from tipbench_lib.collect.plan import PlannedCell
    from tipbench_lib.core.prompts import get_prompt
    from tipbench_lib.core.scenarios import load_scenarios

    cores = _available_cores()
    if cores < 2:
        print("\nthreads: one core only, nothing to compare")
        return
    model, options = "gemma3-270m", GenerationOptions(max_tokens=64)
    counts = (cores, cores - 1)
    backends = {n: EmbeddedBackend(models_dir=models_dir, n_threads=n) for n in counts}
    times: dict[int, list[float]] = {n: [] for n in counts}
    speeds: dict[int, list[float]] = {n: [] for n in counts}
    try:
        for n, b in backends.items():
            b.load(model, options)
            llm = b._resident.llm
            assert (llm.n_threads, llm.n_threads_batch) == (n, n), (llm.n_threads, n)
        info = backends[cores].describe(model)
        for scenario in load_scenarios()[:scenarios]:
            cell = PlannedCell(
                f"threads-{scenario.id}", info, get_prompt("v1"), scenario, options, 0, 1
            )
            for n, b in backends.items():
                b._resident.llm.reset()
                gen = b.generate(model, cell.request(0))
                times[n].append(gen.latency_s)
                speeds[n].append(gen.tokens_per_s)
    finally:
        for b in backends.values():
            b.close()
    print(f"\nthreads ({model}, one fresh tip per scenario, {scenarios} scenarios, medians)")
    for n in counts:
        print(
            f"  n_threads={n}: {statistics.median(times[n]):.2f} s per tip, "
            f"{statistics.median(speeds[n]):.1f} tokens/s decoding"
        )


def engine_bench(args: argparse.Namespace) -> None:
    from tipbench_lib.backends.embedded import EmbeddedBackend

    with EmbeddedBackend() as backend:
        cell_ratio_bench(backend, args.scenarios, args.k)
        judge_bench(backend, args.judge_cells, args.k)
        models_dir = backend.models_dir
    threads_bench(models_dir, args.scenarios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-s", type=float, default=1.0)
    parser.add_argument("--gen-s", type=float, default=0.2)
    parser.add_argument("--scenarios", type=int, default=3)
    parser.add_argument("--n-tips", type=int, default=2)
    parser.add_argument("--k", type=int, default=3, help="tips per cell in the embedded ratios")
    parser.add_argument("--judge-cells", type=int, default=3)
    parser.add_argument(
        "--backend",
        choices=("all", "standin", "embedded"),
        default="all",
        help="standin: the scheduler on the Ollama stand-in; embedded: the real models",
    )
    parser.add_argument("--skip-embedded", action="store_true", help="same as --backend standin")
    args = parser.parse_args()
    if args.skip_embedded:
        args.backend = "standin"
    print(cpu_line())
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TIPBENCH_HOME"] = str(Path(tmp) / "home")
        if args.backend in ("all", "embedded"):
            engine_bench(args)
        with LocalMlflowServer(Path(tmp) / "mlflow") as server, MlflowClient(server.url) as client:
            if args.backend in ("all", "standin"):
                stand_in_bench(args, client)
                diversity_bench(args, client)
            if args.backend in ("all", "embedded"):
                embedded_bench(client, scenarios=2, n_tips=2)


if __name__ == "__main__":
    main()
