"""``tipbench judge`` (and ``python notebooks/judge.py``): judging without the app.

Three ways in: an LLM judge scores every pending candidate (``--llm-judge MODEL``); ``--export``
writes the pending candidates for outside judges; ``--apply`` stores a filled export, all of it or
nothing. Judging by hand happens in the app (``marimo run notebooks/judge.py``).

The exit status follows :mod:`tipbench_lib.core.errors`: 0 done; 1 some LLM judgments failed (they
are recorded as failed, never as scores) or MLflow has not taken every judgment yet (they are safe
in the journal and go out with the next save, apply or run); 2 refused before anything was stored;
3 interrupted: the judge model's backend went away mid-run (or Ctrl-C), and the same command
resumes with the candidates still unscored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tipbench_lib.backends.base import DEFAULT_MAX_MODEL_B
from tipbench_lib.backends.select import BACKEND_KINDS
from tipbench_lib.core.arguments import add_data_dir, parse
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_OK, guarded, refuse
from tipbench_lib.core.paths import data_dir_for
from tipbench_lib.judge.exchange import ImportRejected, apply_file, write_export
from tipbench_lib.judge.session import DEFAULT_REQUIRED_JUDGES, JudgeSession

PROG = "tipbench judge"


def judge_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Judge an experiment's candidates without the app: with an LLM judge, or by "
        "exporting them for outside judges and applying the filled file. For judging by hand, "
        "run `marimo run notebooks/judge.py`.",
        epilog="Exit status: 0 done, 1 some judgments failed or are not in MLflow yet, 2 refused "
        "(nothing stored), 3 interrupted (run the same command again to resume).",
    )
    p.add_argument("--experiment", required=True, help="MLflow experiment name")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--llm-judge", metavar="MODEL", help="score pending candidates with MODEL")
    action.add_argument(
        "--export",
        metavar="FILE",
        type=Path,
        help="write pending candidates as tipbench.judging/1 JSON",
    )
    action.add_argument(
        "--apply",
        metavar="FILE",
        type=Path,
        help="validate a filled export and store all of it, or nothing",
    )
    p.add_argument(
        "--backend",
        choices=BACKEND_KINDS,
        default="auto",
        help="for --llm-judge: where the judge model runs",
    )
    p.add_argument(
        "--max-model-b",
        type=float,
        default=DEFAULT_MAX_MODEL_B,
        help="for --llm-judge: refuse a judge model above this many billion parameters",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="for --llm-judge: new attempts after an invalid answer",
    )
    p.add_argument("--unblind", action="store_true", help="for --export: include model and prompt")
    p.add_argument("--judge-id", help="for --apply: who judged (overrides the file's judge_id)")
    p.add_argument(
        "--required-judges",
        type=int,
        default=DEFAULT_REQUIRED_JUDGES,
        help="judges each candidate needs before its cell stops being pending",
    )
    add_data_dir(p)
    return p


def run_export(client: Any, args: argparse.Namespace) -> int:
    session = JudgeSession(
        client, args.experiment, "export", judge_kind="import", required_judges=args.required_judges
    )
    count = write_export(session, args.export, unblind=args.unblind)
    print(
        f"wrote {count} pending candidate(s) to {args.export} "
        f"({'unblind' if args.unblind else 'blind'}); fill the scores, then run with --apply"
    )
    return EXIT_OK


def run_apply(client: Any, args: argparse.Namespace) -> int:
    try:
        plan, result = apply_file(
            client, args.experiment, args.apply, args.judge_id, required_judges=args.required_judges
        )
    except ImportRejected as exc:
        return refuse(exc)
    print(
        f"applied {len(plan.scores)} judgment(s) by {plan.judge_id!r}; "
        f"{plan.skipped} item(s) left empty were skipped"
    )
    if result is not None and not result.synced:
        print(
            f"MLflow has not got them yet ({result.sync_error}); they are safe in the journal "
            "and go out on the next save or apply",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def run_llm(client: Any, args: argparse.Namespace) -> int:
    from tipbench_lib.backends.select import choose_backend, close_backend
    from tipbench_lib.core.progress import ProgressEvent, TerminalProgress
    from tipbench_lib.judge.llm import check_model, llm_judge_id, run_llm_judge

    session = JudgeSession(
        client,
        args.experiment,
        llm_judge_id(args.llm_judge),
        judge_kind="llm",
        required_judges=args.required_judges,
    )
    backend, why = choose_backend(args.backend)
    print(f"tipbench: {why}", file=sys.stderr)
    progress = TerminalProgress(unit="judgment")
    try:
        info = check_model(backend, args.llm_judge, args.max_model_b)
        summary = run_llm_judge(
            session,
            backend,
            info,
            retries=args.retries,
            on_progress=lambda done, total: progress(ProgressEvent(done, total, info.name)),
        )
    finally:
        progress.close()
        close_backend(backend)
    for line in summary.lines():
        print(line)
    return summary.exit_code


def main(argv: Sequence[str] | None = None, client: Any = None, *, prog: str = PROG) -> int:
    """The judge phase's script mode; returns the exit status (see the module docstring)."""
    args = parse(judge_parser(prog), argv)
    return guarded(lambda: _judge(args, client))


def _judge(args: argparse.Namespace, client: Any) -> int:
    own = client is None
    with data_dir_for(args.data_dir):
        try:
            if own:
                from tipbench_lib.tracking.client import MlflowClient

                client = MlflowClient.from_env()
            if args.export:
                return run_export(client, args)
            if args.apply:
                return run_apply(client, args)
            return run_llm(client, args)
        finally:
            if own and client is not None:
                client.close()
