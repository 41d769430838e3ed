"""Command-line arguments of the notebooks' script mode, and the exit-status contract.

Exit statuses (cron and Airflow read them):

- 0 everything complete and in MLflow;
- 1 some cells failed (listed; the model answered with an error, ran out of memory, got a prompt
  too long or passed its timeout); ``--retry-failed`` tries them again;
- 2 refused before anything ran (a bad argument or name, an unknown or too-large model, a
  malformed data file the run needs, a service that does not answer at the start); nothing was
  loaded and nothing was created;
- 3 interrupted: Ollama or MLflow went away mid-run (or a model would not unload); the journal
  keeps everything, the summary says what is left, and running the same command again resumes.

Errors are one message naming the cause, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from tipbench_lib.backends.base import DEFAULT_MAX_MODEL_B, Backend, GenerationOptions
from tipbench_lib.collect.job import CollectRequest, split_list
from tipbench_lib.collect.runner import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CollectSummary,
    Progress,
)
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.names import MAX_EXPERIMENT_CHARS

EXIT_REFUSED = 2
__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED"]
DEFAULT_EXPERIMENT = "tipbench"


def collect_parser() -> argparse.ArgumentParser:
    defaults = GenerationOptions()
    p = argparse.ArgumentParser(
        prog="python notebooks/collect.py",
        description="Generate candidate tips for a grid of model x prompt version x scenario, "
        "one model resident at a time, journalled and logged to MLflow. Rerun the same "
        "command to resume.",
    )
    p.add_argument(
        "--experiment",
        default=DEFAULT_EXPERIMENT,
        help=f"MLflow experiment name (at most {MAX_EXPERIMENT_CHARS} characters)",
    )
    p.add_argument("--models", required=True, help="comma list, e.g. smollm2-135m,gemma3-270m")
    p.add_argument("--prompts", default="v1,v2-mentor,v3-few-shot", help="comma list of versions")
    p.add_argument(
        "--scenarios", default="12", help="a count (spread across personas) or a comma list of ids"
    )
    p.add_argument("--n-tips", type=int, default=3, help="candidate tips per cell")
    p.add_argument("--backend", choices=("auto", "ollama", "embedded"), default="auto")
    p.add_argument(
        "--max-model-b",
        type=float,
        default=DEFAULT_MAX_MODEL_B,
        help="refuse models above this many billion parameters (inclusive)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; per-tip seeds derive from it")
    p.add_argument("--temperature", type=float, default=defaults.temperature)
    p.add_argument(
        "--max-tokens",
        type=int,
        default=defaults.max_tokens,
        help="num_predict: the most tokens a tip may take",
    )
    p.add_argument("--num-ctx", type=int, default=defaults.num_ctx, help="context window per model")
    p.add_argument(
        "--timeout",
        type=float,
        default=defaults.timeout_s,
        help="seconds one generation may take before the cell fails",
    )
    p.add_argument("--retry-failed", action="store_true", help="run cells that failed before again")
    return p


def collect_request(args: argparse.Namespace) -> CollectRequest:
    options = GenerationOptions(
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        num_ctx=args.num_ctx,
        timeout_s=args.timeout,
    )
    return CollectRequest(
        experiment=args.experiment,
        models=split_list(args.models),
        prompts=split_list(args.prompts),
        scenarios=args.scenarios,
        n_tips=args.n_tips,
        seed=args.seed,
        options=options,
        max_model_b=args.max_model_b,
        retry_failed=args.retry_failed,
    )


def refuse(message: str, stream: TextIO | None = None) -> int:
    print(f"tipbench: refused: {message}", file=stream or sys.stderr)
    return EXIT_REFUSED


def guarded(step: Callable[[], int]) -> int:
    """Run ``step``; any error we raise on purpose becomes a message and status 2."""
    try:
        return step()
    except (TipbenchError, ValueError) as exc:
        return refuse(str(exc))
    except KeyboardInterrupt:
        print("tipbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


class TerminalProgress:
    """A progress bar with ETA on stderr (tqdm), fed by the runner's progress events."""

    def __init__(self, unit: str = "tip") -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar = None
        self.unit = unit

    def __call__(self, event: Progress) -> None:
        if self._bar is None:
            # Under cron or Airflow stderr is a log file: a line every 30 s, not every tip.
            interval = 0.2 if sys.stderr.isatty() else 30.0
            self._bar = self._tqdm(
                total=event.total,
                unit=self.unit,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=interval,
            )
        self._bar.update(event.done - self._bar.n)
        self._bar.set_postfix_str(event.message[:60], refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def print_summary(summary: CollectSummary, stream: TextIO | None = None) -> None:
    for line in summary.lines():
        print(line, file=stream or sys.stdout)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return parser.parse_args(list(argv) if argv is not None else None)


def collect_main(argv: Sequence[str] | None = None) -> int:
    """``python notebooks/collect.py ...``: the whole collect job with a terminal progress bar."""
    args = parse(collect_parser(), argv)
    return guarded(lambda: _collect(args))


def _collect(args: argparse.Namespace) -> int:
    from tipbench_lib.backends.select import choose_backend
    from tipbench_lib.collect.job import prepare, run_prepared
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url

    request = collect_request(args)
    backend, note = choose_backend(args.backend)
    print(f"tipbench: {note}", file=sys.stderr)
    try:
        with MlflowClient(tracking_url()) as client:
            prepared = prepare(request, backend, client)
            progress = TerminalProgress()
            try:
                summary = run_prepared(prepared, backend, client, progress)
            finally:
                progress.close()
    finally:
        close_backend(backend)
    print_summary(summary)
    return summary.exit_code


def close_backend(backend: Backend, stream: TextIO | None = None) -> None:
    """Close the backend; a problem doing so is a warning, never the run's outcome.

    The summary already says what happened to every cell, and the backend has already reported a
    model it could not unload (once); a traceback here would hide the summary.
    """
    try:
        backend.close()
    except TipbenchError as exc:
        print(f"tipbench: warning: {exc}", file=stream or sys.stderr)
