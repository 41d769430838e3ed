"""``tipbench demo`` (``make demo``): the whole job on a fresh machine, as a user runs it.

Collect with the embedded models, LLM-judge with an embedded model, compare against a baseline
named here before any score exists, log the summary run, and print where the report is. Each
step is ``python -m tipbench_lib <phase> ...`` in a process of its own, exactly as a user or a
scheduler would run it, and works the same from a checkout or an installed package. One MLflow
server serves all three steps (the embedded one, started here and stopped when the demo ends,
unless MLFLOW_TRACKING_URI names another), so it starts once.

**The grid can decide** (the README's *The demo* says why): 2 models with one prompt, the
other cell against the baseline named here before any score (m = 1 comparison; ``--prompts``
adds cells, m = cells - 1), over enough scenarios that compare's signed-rank test can pass
Holm's first step and the judging queue's sequences can reach their threshold
(:func:`tipbench_lib.stats.adaptive.family_scenarios`), with room for tied scenarios; all 15
pairs of the old 6-cell grid could not at 8 scenarios, whatever the scores.

**Progress.** Each stage prints its elapsed time and the demo's ETA
(:mod:`tipbench_lib.demo_progress`); while collect and the judge run, their journals are read
every few seconds for the tips done, so the ETA follows the machine's real rate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tipbench_lib.core.arguments import add_data_dir
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, guarded
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.journal import experiment_dir
from tipbench_lib.core.paths import data_dir_for
from tipbench_lib.demo_progress import Eta, Stage, duration
from tipbench_lib.tracking.server import tracking_url

DEMO_MODELS = ("smollm2-135m", "gemma3-270m")
DEMO_PROMPTS = ("v1",)
DEMO_BASELINE = "smollm2-135m:v1"
"""Named before any score: the primary family is every other cell against it."""
DEMO_JUDGE = "smollm2-135m"
DEMO_SCENARIOS = 10
DEMO_TIPS = 2
DEMO_EXPERIMENT = "tipbench-demo"

# Reference costs of the stages, seconds on an idle 2-core machine: the ETA scales them by this
# machine's measured rates (tipbench_lib/demo_progress.py). Measured by bench/demo_stages.py on
# the project's machine when it was idle (2026-12-07, Intel Xeon, 2 vCPUs, load 0.6 before):
# the default demo took 3 min 12 s, a SmolLM2 tip (weight 1) cost 1.7 s to collect, a Gemma tip
# 0.7 of that, a tip 2.93 s to judge (its ≤ 160-character reason and the retries of a malformed
# answer included: 1.2-9.7 s a tip). On a loaded machine judging slowed down less than
# collecting (1.29 s judged per tip collected at load 7-9, 2.1 idle): no constant ratio holds
# for both, and the idle one is the user's usual case.
START_S = 6.5
COLLECT_FIXED_S, COLLECT_TIP_S = 2.6, 1.7
JUDGE_FIXED_S, JUDGE_TIP_S = 5.1, 2.93
COMPARE_S = 5.0
TIP_WEIGHT = {"smollm2-135m": 1.0, "gemma3-270m": 0.7}
"""A tip's relative cost per model: SmolLM2 runs its tips to the 96-token limit, Gemma writes
about 25 tokens; measured idle, a Gemma tip cost 0.7 of a SmolLM2 one (0.36 at load 7, 0.57 in
bench/collect_overhead.py)."""

DESCRIPTION = """\
Run the whole tipbench job on this machine with the embedded models (no Ollama, no GPU):
collect tips from 2 small models, score every tip with an embedded LLM judge, compare every
cell against the baseline named here, write report.html and log a summary run to MLflow.
Each stage prints its elapsed time and an estimate of the time left."""

EPILOG = """\
The default grid (2 models x prompt v1 x 10 scenarios x 2 tips, baseline smollm2-135m:v1)
can reach a verdict within about 5 minutes: see "The demo" in the README. --prompts
v1,v2-mentor adds cells (and time); fewer scenarios may leave every comparison undecidable."""


@dataclass(frozen=True)
class Grid:
    scenarios: int = DEMO_SCENARIOS
    n_tips: int = DEMO_TIPS
    models: tuple[str, ...] = DEMO_MODELS
    prompts: tuple[str, ...] = DEMO_PROMPTS
    baseline: str = DEMO_BASELINE

    @property
    def tips(self) -> int:
        return len(self.models) * len(self.prompts) * self.scenarios * self.n_tips


def steps(experiment: str, out: Path, grid: Grid) -> list[tuple[str, list[str]]]:
    """The three phases, in order, with the demo's arguments."""
    return [
        (
            "collect",
            [
                "--experiment",
                experiment,
                "--backend",
                "embedded",
                "--models",
                ",".join(grid.models),
                "--prompts",
                ",".join(grid.prompts),
                "--scenarios",
                str(grid.scenarios),
                "--n-tips",
                str(grid.n_tips),
            ],
        ),
        (
            "judge",
            ["--experiment", experiment, "--backend", "embedded", "--llm-judge", DEMO_JUDGE],
        ),
        (
            "compare",
            [
                "--experiment",
                experiment,
                "--out",
                str(out),
                "--baseline",
                grid.baseline,
                "--log-summary",
            ],
        ),
    ]


def collect_weights(grid: Grid) -> tuple[float, ...]:
    """Each tip's relative cost in collect's order: one model's cells after the other's."""
    per_model = len(grid.prompts) * grid.scenarios * grid.n_tips
    return tuple(TIP_WEIGHT.get(m, 1.0) for m in grid.models for _ in range(per_model))


def plan(grid: Grid) -> list[Stage]:
    """The demo's stages with their reference costs (module constants)."""
    return [
        Stage("start", fixed_s=START_S),
        Stage("collect", grid.tips, COLLECT_FIXED_S, COLLECT_TIP_S, collect_weights(grid)),
        Stage("judge", grid.tips, JUDGE_FIXED_S, JUDGE_TIP_S),
        Stage("compare", fixed_s=COMPARE_S),
    ]


def parser(prog: str = "tipbench demo") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--experiment",
        default=DEMO_EXPERIMENT,
        help=f"MLflow experiment to collect into (default {DEMO_EXPERIMENT}); rerunning resumes it",
    )
    p.add_argument(
        "--out", type=Path, default=Path("out/demo"), help="report folder (default out/demo)"
    )
    p.add_argument(
        "--scenarios",
        type=int,
        default=DEMO_SCENARIOS,
        help=f"scenarios per cell (default {DEMO_SCENARIOS})",
    )
    p.add_argument(
        "--n-tips", type=int, default=DEMO_TIPS, help=f"tips per cell (default {DEMO_TIPS})"
    )
    p.add_argument(
        "--prompts",
        default=",".join(DEMO_PROMPTS),
        help=f"comma list of prompt versions (default {','.join(DEMO_PROMPTS)}; the baseline "
        f"{DEMO_BASELINE} needs v1)",
    )
    add_data_dir(p)
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = "tipbench demo") -> int:
    args = parser(prog).parse_args(list(argv) if argv is not None else None)
    return guarded(lambda: _demo(args))


class JournalWatch:
    """Counts the records of one type appended to an experiment's journals since it began.

    The demo's steps run in processes of their own; their journals (``collect.jsonl``, the LLM
    judge's file under ``judgments/``) are where their progress shows. Only bytes appended since
    the last look are read, and only whole lines count.
    """

    def __init__(self, folder: Path, pattern: str, kind: str) -> None:
        self.folder, self.pattern = folder, pattern
        self.marker = f'"type":"{kind}"'.encode()
        self._offsets: dict[Path, int] = {}
        self._read()  # what was there before the stage began does not count
        self.count = 0

    def _read(self) -> int:
        found = 0
        for path in sorted(self.folder.glob(self.pattern)):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[path] = offset + len(complete)
            found += complete.count(self.marker)
        return found

    def done(self) -> int:
        self.count += self._read()
        return self.count


TRACE_FILE = "demo-stages.json"
"""The demo's stage events, written beside the report (``bench/demo_stages.py`` reads it)."""
WATCHED = {"collect": ("collect.jsonl", "candidate"), "judge": ("judgments/*.jsonl", "judgment")}
REPORT_EVERY_S = 20.0


@dataclass
class Trace:
    """(seconds since the demo began, stage, units done or None for "finished") per event:
    what :func:`tipbench_lib.demo_progress.replay` and ``bench/demo_stages.py`` read back."""

    began: float
    events: list[tuple[float, str, int | None]] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system) of each step's process, beside the wall time. Not free of
    the load either: on a busy machine llama.cpp's threads spin while they wait for each
    other, so they overstate what an idle machine would spend."""

    def add(self, name: str, done: int | None) -> None:
        self.events.append((round(time.monotonic() - self.began, 3), name, done))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"events": self.events, "cpu_s": self.cpu_s}
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")


def _run_stage(
    name: str, command: list[str], env: dict[str, str], eta: Eta, folder: Path, trace: Trace
) -> int:
    """Run one step, feeding the ETA from its journal and printing a line now and then."""
    watch = JournalWatch(folder, *WATCHED[name]) if name in WATCHED else None
    stop = threading.Event()
    total = next(s.units for s in eta.stages if s.name == name)
    began = time.monotonic()

    def follow() -> None:
        last_print = time.monotonic()
        seen = 0
        while not stop.wait(2.0):
            if watch is None:
                continue
            done = watch.done()
            eta.observe(name, done, time.monotonic() - began)
            if done != seen:
                seen = done
                trace.add(name, done)
            if time.monotonic() - last_print >= REPORT_EVERY_S:
                last_print = time.monotonic()
                print(
                    ("\n" if sys.stderr.isatty() else "")  # below the phase's progress bar
                    + f"-- {name}: {done} of {total} tips, {duration(time.monotonic() - began)} "
                    f"so far; about {duration(eta.left())} left for the demo",
                    flush=True,
                )

    eta.observe(name, 0, 0.0)
    trace.add(name, 0)
    thread = threading.Thread(target=follow, name=f"demo-{name}", daemon=True)
    thread.start()
    try:
        return subprocess.call(command, env=env)
    finally:
        stop.set()
        thread.join()
        if watch is not None:
            trace.add(name, watch.done())
        eta.finish(name, time.monotonic() - began)
        trace.add(name, None)


def _demo(args: argparse.Namespace) -> int:
    if args.scenarios < 1 or args.n_tips < 1:
        print("demo: --scenarios and --n-tips must be 1 or more", file=sys.stderr)
        return EXIT_REFUSED
    prompts = tuple(p.strip() for p in args.prompts.split(",") if p.strip())
    if DEMO_BASELINE.rsplit(":", 1)[1] not in prompts:
        print(
            f"demo: --prompts must include the baseline's prompt ({DEMO_BASELINE})", file=sys.stderr
        )
        return EXIT_REFUSED
    grid = Grid(scenarios=args.scenarios, n_tips=args.n_tips, prompts=prompts)
    out = args.out.resolve()
    eta = Eta(plan(grid))
    times: dict[str, float] = {}
    with data_dir_for(args.data_dir):
        env = dict(os.environ)  # the steps inherit TIPBENCH_DATA, so they read the same data
        print(
            f"demo: {grid.tips} tips to collect and judge ({len(grid.models)} models x "
            f"{len(grid.prompts)} prompt(s) x {grid.scenarios} scenarios x {grid.n_tips} tips); "
            f"about {duration(eta.left())} on an idle 2-core machine (measured on an Intel "
            "Xeon; this machine's own rate replaces it after the first cells)",
            flush=True,
        )
        began = time.monotonic()
        trace = Trace(began)
        trace.add("start", 0)
        # Claim the embedded server (unless one is configured) for the whole demo: every step
        # shares it through the tipbench home, so it starts once. Its address is not put in
        # MLFLOW_TRACKING_URI, which would make the steps send the environment's credentials to it.
        tracking_url()
        times["start"] = time.monotonic() - began
        eta.finish("start", times["start"])
        trace.add("start", None)
        folder = experiment_dir(args.experiment)
        for name, step_args in steps(args.experiment, out, grid):
            print(
                f"\n== {name}: {shell_command('tipbench', name, *step_args)}\n"
                f"   ({duration(time.monotonic() - began)} so far; about "
                f"{duration(eta.left())} left)",
                flush=True,
            )
            command = [sys.executable, "-m", "tipbench_lib", name, *step_args]
            stage_began, cpu_before = time.monotonic(), children_cpu_s()
            code = _run_stage(name, command, env, eta, folder, trace)
            times[name] = time.monotonic() - stage_began
            trace.cpu_s[name] = round(children_cpu_s() - cpu_before, 2)
            trace.write(out / TRACE_FILE)
            print(f"== {name} took {duration(times[name])}", flush=True)
            if code not in (EXIT_OK, EXIT_FAILED) or (code != EXIT_OK and name == "compare"):
                print(f"demo: the {name} step stopped with status {code}", file=sys.stderr)
                return code
            if code == EXIT_FAILED:
                print(f"demo: the {name} step reported failures (see above); going on")
    print(stage_summary(times, grid, trace.cpu_s))
    print(next_steps(args.experiment, out, grid))
    return EXIT_OK


def children_cpu_s() -> float:
    """CPU seconds used so far by the processes this one has waited for (the steps)."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def stage_summary(
    times: dict[str, float], grid: Grid, cpu_s: dict[str, float] | None = None
) -> str:
    """The stages' times (and CPU times), the machine's load, and what the two tokens/s
    figures measure."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    cpu_s = cpu_s or {}
    parts = ", ".join(
        f"{name} {duration(s)}" + (f" ({cpu_s[name]:.0f} CPU s)" if name in cpu_s else "")
        for name, s in times.items()
    )
    return (
        f"\nDemo done in {duration(sum(times.values()))}: {parts} "
        f"({os.cpu_count()} CPUs, load average {load}).\n"
        "Speeds: collect's 'tokens/s end to end' divides the tokens generated by the whole time "
        "spent on them, reading the prompt included: it is what the demo's time depends on. The "
        "report's 'Tokens/s (median)' is the median tip's decoding rate alone (llama.cpp's "
        "eval time, as Ollama's eval_count/eval_duration), several times higher on short tips "
        "after a long prompt."
    )


def tipbench_command() -> str:
    """How this machine's user reaches the ``tipbench`` being run: bare when it is on PATH,
    else its path (``.venv/bin/tipbench`` from a checkout)."""
    here = Path(sys.executable).parent / "tipbench"
    found = shutil.which("tipbench")
    if found and Path(found).resolve() == here.resolve():
        return "tipbench"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def next_steps(experiment: str, out: Path, grid: Grid, checkout: Path | None = None) -> str:
    """The "Next:" hints: commands that work as printed (quoted, with the path to tipbench, the
    apps through make, which gives them their token)."""
    checkout = Path.cwd() if checkout is None else checkout
    tipbench = tipbench_command()
    lines = [
        f"\nReport: {out / 'report.html'} (open it in any browser; it needs no network)",
        "Next:",
    ]
    if (checkout / "Makefile").exists() and (checkout / "notebooks").is_dir():
        lines += [
            "  make mlflow-ui      # browse the MLflow runs (the summary run holds the headline)",
            f"  {shell_command('make', 'compare-app', f'EXPERIMENT={experiment}')}"
            "      # explore the results in the compare app",
            "  "
            + shell_command(
                "make",
                "judge",
                f"EXPERIMENT={experiment}",
                "JUDGE=your-name",
                f"BASELINE={grid.baseline}",
            )
            + "      # judge the tips yourself (prints the app's URL with its token)",
        ]
    else:
        lines.append(f"  {shell_command(tipbench, 'mlflow-ui')}      # browse the MLflow runs")
    lines.append(
        f"  {shell_command(tipbench, 'compare', '--experiment', experiment, '--out', out)}"
        f" --baseline {shell_command(grid.baseline)}      # rerun one step"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
