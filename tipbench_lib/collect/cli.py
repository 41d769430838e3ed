"""``tipbench collect`` (and ``python notebooks/collect.py``): the collect phase on a command line.

The exit status follows :mod:`tipbench_lib.core.errors`: 0 every cell complete and in MLflow; 1 some
cells failed (listed; ``--retry-failed`` tries them again); 2 refused before anything ran, with
nothing loaded or created; 3 interrupted (Ollama or MLflow went away, a model would not unload, or
Ctrl-C): the journal keeps everything and the same command resumes. Errors are one message naming
the cause, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from tipbench_lib.backends.base import DEFAULT_MAX_MODEL_B, GenerationOptions
from tipbench_lib.backends.select import BACKEND_KINDS, close_backend
from tipbench_lib.collect.diversity import MAX_REGENERATIONS
from tipbench_lib.collect.job import CollectRequest
from tipbench_lib.collect.runner import CollectSummary
from tipbench_lib.core.arguments import add_data_dir, parse, split_list
from tipbench_lib.core.bigrams import NEAR_REPEAT_JACCARD
from tipbench_lib.core.errors import guarded
from tipbench_lib.core.names import MAX_EXPERIMENT_CHARS
from tipbench_lib.core.paths import data_dir_for
from tipbench_lib.core.progress import TerminalProgress

PROG = "tipbench collect"
DEFAULT_EXPERIMENT = "tipbench"


class DefaultsShown(argparse.HelpFormatter):
    """Each option's default in its help, where it has one worth saying (not None, not off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default is not None
            and default is not False
            and default != argparse.SUPPRESS
            and "%(default)" not in text
            and "default:" not in text
        ):
            text = f"{text} (default: %(default)s)".strip()
        return text


def collect_parser(prog: str = PROG) -> argparse.ArgumentParser:
    defaults = GenerationOptions()
    p = argparse.ArgumentParser(
        prog=prog,
        formatter_class=DefaultsShown,
        description="Generate candidate tips for a grid of model x prompt version x scenario, "
        "one model resident at a time, journalled and logged to MLflow. Rerun the same "
        "command to resume. An experiment keeps one set of generation settings (--temperature, "
        "--max-tokens, --num-ctx, --seed, --diversity): a run with others is refused.",
        epilog="Exit status: 0 done, 1 some cells failed (--retry-failed), 2 refused before "
        "anything ran, 3 interrupted (run the same command again to resume).",
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
    p.add_argument(
        "--backend",
        choices=BACKEND_KINDS,
        default="auto",
        help="where the models run (auto: Ollama when it answers, else the embedded models)",
    )
    p.add_argument(
        "--max-model-b",
        type=float,
        default=DEFAULT_MAX_MODEL_B,
        help="refuse models above this many billion parameters (inclusive)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; per-tip seeds derive from it")
    p.add_argument(
        "--temperature", type=float, default=defaults.temperature, help="sampling temperature"
    )
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
    p.add_argument(
        "--diversity",
        action="store_true",
        help=f"generate a candidate again (up to {MAX_REGENERATIONS} more tries, each with a seed "
        "derived from its own) when it nearly repeats an earlier one of its cell (word-bigram "
        f"Jaccard >= {NEAR_REPEAT_JACCARD:g}); part of the cells' options, so an experiment is "
        "collected all with it or all without it",
    )
    p.add_argument(
        "--rubric",
        metavar="NAME|PATH",
        help="the rubric the experiment is scored on: a name in the data directories (your "
        "--data-dir, then the shipped ones) or a .toml file; recorded with the experiment, which "
        "judging and comparing read (default: the experiment's recorded rubric, else tip-v1)",
    )
    p.add_argument(
        "--plan-hosts",
        metavar="URL,URL",
        help="collect nothing: make every check a collect of this grid makes, create the "
        "experiment with its rubric, and print as JSON which of these Ollama hosts collects "
        "which model (or which of its scenarios); the plan of dags/prompt_ab_eval.py",
    )
    add_data_dir(p)
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
        rubric=args.rubric,
        diversity=args.diversity,
    )


def print_summary(summary: CollectSummary, stream: TextIO | None = None) -> None:
    for line in summary.lines():
        print(line, file=stream or sys.stdout)


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """The whole collect job with a terminal progress bar; returns the exit status."""
    args = parse(collect_parser(prog), argv)
    return guarded(lambda: _collect(args))


def _plan_hosts(request: CollectRequest, hosts: Sequence[str]) -> int:
    """``--plan-hosts``: the checks, the experiment, and the plan as one JSON line on stdout."""
    import json

    from tipbench_lib.backends.ollama import resolve_host
    from tipbench_lib.collect.hostplan import CostModel, plan_hosts
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url

    with MlflowClient(tracking_url()) as client:
        plan = plan_hosts(request, [resolve_host(h) for h in hosts], client, CostModel())
    print(json.dumps(plan.as_json()))
    return 0


def _collect(args: argparse.Namespace) -> int:
    from tipbench_lib.backends.select import choose_backend
    from tipbench_lib.collect.job import check_request, prepare, run_prepared
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url

    with data_dir_for(args.data_dir):
        request = collect_request(args)
        if args.plan_hosts:
            return _plan_hosts(request, split_list(args.plan_hosts))
        backend, note = choose_backend(args.backend)
        print(f"tipbench: {note}", file=sys.stderr)
        try:
            checked = check_request(request, backend)  # before the embedded server starts
            with MlflowClient(tracking_url()) as client:
                prepared = prepare(request, backend, client, checked)
                progress = TerminalProgress()
                try:
                    summary = run_prepared(prepared, backend, client, progress)
                finally:
                    progress.close()
        finally:
            close_backend(backend)
    print_summary(summary)
    return summary.exit_code
