"""``tipbench judge`` (and ``python notebooks/judge.py``): judging without the app.

Four ways in: an LLM judge scores every pending candidate (``--llm-judge MODEL``), or with
``--mode pairwise`` chooses between tips of two cells of a scenario, each pair in both orders
(:mod:`tipbench_lib.judge.llm_pairs`); ``--export``
writes candidates for outside judges: every pending one, or with ``--judge-id ID --next N`` the
next N cards of that judge's queue (adaptive by default, :mod:`tipbench_lib.judge.queue`), so an
outside judge works in batches (``--mode pairwise``: blind pair cards instead, answered left, right
or tie, :mod:`tipbench_lib.judge.pair_exchange`); ``--apply`` stores a filled export (scores or
pair cards, as the file says), all of it or nothing;
``--status`` prints where the primary comparisons stand as one JSON object. Judging by hand
happens in the app (``marimo run notebooks/judge.py``). Every way in first sends MLflow the
judgments journalled on this machine that it lacks (an app killed before it sent a score), and
names on standard error those it does not take (:func:`tipbench_lib.judge.delivery.
read_delivered`).

The exit status follows :mod:`tipbench_lib.core.errors`: 0 done; 1 some LLM judgments failed (they
are recorded as failed, never as scores) or MLflow has not taken every judgment yet (they are safe
in the journal and go out with the next save, apply or run); 2 refused before anything was stored;
3 interrupted: the judge model's backend went away mid-run (or Ctrl-C), and the same command
resumes with the candidates still unscored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tipbench_lib.backends.base import DEFAULT_MAX_MODEL_B
from tipbench_lib.backends.select import BACKEND_KINDS
from tipbench_lib.core.arguments import add_data_dir, parse
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_OK, JudgingError, guarded, refuse
from tipbench_lib.core.paths import data_dir_for
from tipbench_lib.judge.cards import design_warning
from tipbench_lib.judge.delivery import DEFAULT_REQUIRED_JUDGES, read_delivered
from tipbench_lib.judge.exchange import ImportRejected, apply_document, read_document, write_export
from tipbench_lib.judge.pair_exchange import (
    apply_pairs,
    is_pairs_document,
    refuse_mixed_mode,
    validate_pairs_document,
    write_pairs_export,
)
from tipbench_lib.judge.queue import DEFAULT_ORDER, EXPORT_PLAN_TTL, ORDERS, parse_baseline
from tipbench_lib.judge.session import JudgeSession
from tipbench_lib.stats.anytime import DEFAULT_DELTA
from tipbench_lib.tracking.experiment import StoredExperiment

NEXT_CARDS = 20
MODES = ("rubric", "pairwise")

PROG = "tipbench judge"


def judge_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Judge an experiment's candidates without the app: with an LLM judge, or by "
        "exporting them for outside judges and applying the filled file; --status says where the "
        "comparisons stand. For judging by hand, start the app from a checkout with "
        "`make judge EXPERIMENT=X JUDGE=you` (marimo run behind a token, loopback only).",
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
    action.add_argument(
        "--status",
        action="store_true",
        help="print one JSON object: comparisons, decided, undecided, cards_judged, "
        "cards_left_estimate (then out_of_reach, out_of_reach_projected, "
        "out_of_reach_projected_chance, can_stop, family, decidable, scenarios_to_decide, "
        "scenarios_to_decide_with_baseline, design_note)",
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
    p.add_argument(
        "--mode",
        choices=MODES,
        help="rubric (default: score each tip) or pairwise (choose the better of two tips); "
        "for --export the kind of cards written, for --apply checked against the file, for "
        "--llm-judge what the model does (pairwise: each pair in both orders)",
    )
    p.add_argument(
        "--judge-id",
        help="for --apply: who judged (overrides the file's judge_id); for --export: the judge "
        "whose queue the next cards come from",
    )
    p.add_argument(
        "--next",
        type=int,
        metavar="N",
        help=f"for --export --judge-id: how many cards of the judge's queue (default {NEXT_CARDS})",
    )
    p.add_argument(
        "--order",
        choices=ORDERS,
        help="for --export --judge-id: adaptive (default: the cards that decide the primary "
        "comparisons soonest), uniform (every card, shuffled), ppi-uniform (whole scenarios in "
        "the experiment's random order, for prediction-powered inference in compare)",
    )
    p.add_argument(
        "--baseline",
        metavar="MODEL:PROMPT",
        help="for the queue: compare every cell against this one (named before people score; "
        "recorded), else all pairs",
    )
    p.add_argument(
        "--hold-hours",
        type=float,
        default=EXPORT_PLAN_TTL / 3600,
        help="for --export --judge-id: hours the exported cards stay planned for the judge "
        "after the export or their last score (then others may get them)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=None,
        help="composite points within which two cells count as equivalent (default: the value "
        f"recorded when judging began, else {DEFAULT_DELTA:g}; fixed once people have scored)",
    )
    p.add_argument(
        "--required-judges",
        type=int,
        default=DEFAULT_REQUIRED_JUDGES,
        help="judges each candidate needs before its cell stops being pending",
    )
    add_pairwise_args(p)
    add_data_dir(p)
    return p


def add_pairwise_args(p: argparse.ArgumentParser) -> None:
    """The LLM judge of pairs' options (docs/architecture.md, section 13); ``--mode`` is
    shared with export and apply."""
    from tipbench_lib.judge.llm_pairs import DEFAULT_PAIRS_PER_CELL

    p.add_argument(
        "--pairs-per-cell",
        type=int,
        metavar="N",
        help="for --llm-judge --mode pairwise: tip pairs per scenario and pair of cells, drawn "
        f"with a seed recorded in the judge's journal (default {DEFAULT_PAIRS_PER_CELL})",
    )


def check_queue_args(args: argparse.Namespace) -> None:
    """Refuse queue options that would be silently ignored."""
    queue = args.export and args.mode != "pairwise"  # pair cards: --next counts the draw
    if args.judge_id is None and queue and (args.next is not None or args.order):
        raise JudgingError("--next and --order pick cards from a judge's queue: add --judge-id ID")
    if args.next is not None and args.next < 1:
        raise JudgingError(f"--next must be 1 or more cards, got {args.next}")
    if args.hold_hours <= 0:
        raise JudgingError(f"--hold-hours must be above 0, got {args.hold_hours:g}")
    check_pair_args(args)


def check_pair_args(args: argparse.Namespace) -> None:
    """Refuse options pair cards do not have (they would be silently ignored)."""
    if args.mode != "pairwise" or not args.export:
        return
    given = [flag for flag, on in (("--order", args.order), ("--unblind", args.unblind)) if on]
    if given:
        raise JudgingError(
            f"{' and '.join(given)} are options of score cards; pair cards are blind and drawn "
            "at random over the pairs no judge has answered: leave them out with --mode pairwise"
        )


def check_pairwise_args(args: argparse.Namespace) -> None:
    """Refuse a pairwise option that would be silently ignored, or out of range."""
    from tipbench_lib.judge.llm_pairs import DEFAULT_PAIRS_PER_CELL

    if args.pairs_per_cell is None:
        args.pairs_per_cell = DEFAULT_PAIRS_PER_CELL
    elif not (args.llm_judge and args.mode == "pairwise"):
        raise JudgingError("--pairs-per-cell is for --llm-judge MODEL --mode pairwise")
    elif args.pairs_per_cell < 1:
        raise JudgingError(f"--pairs-per-cell must be 1 or more, got {args.pairs_per_cell}")


def queue_session(client: Any, args: argparse.Namespace, judge_id: str, **kw: Any) -> JudgeSession:
    return JudgeSession(
        client,
        args.experiment,
        judge_id,
        required_judges=args.required_judges,
        baseline=parse_baseline(args.baseline),
        delta=args.delta,
        **kw,
    )


def run_status(client: Any, args: argparse.Namespace, stored: StoredExperiment) -> int:
    """One JSON object on standard output; nothing else is written anywhere."""
    from tipbench_lib.judge.queue import status_of

    found = status_of(
        client,
        args.experiment,
        baseline=parse_baseline(args.baseline),
        delta=args.delta,
        stored=stored,
    )
    print(json.dumps(found))
    return EXIT_OK


def run_queue_export(client: Any, args: argparse.Namespace, stored: StoredExperiment) -> int:
    """The judge's next cards in queue order; they stay planned for the judge until applied."""
    order = args.order or DEFAULT_ORDER
    session = queue_session(
        client,
        args,
        args.judge_id,
        judge_kind="import",
        queue=True,
        order=order,
        plan_ttl=args.hold_hours * 3600,
        stored=stored,
    )
    count = args.next or NEXT_CARDS
    if order == "uniform":
        cards = session.uniform_queue()[:count]
    else:
        cards = session.upcoming(count, hold=False)
        session.hold(cards, args.hold_hours * 3600, renew=True)
    written = write_export(
        session, args.export, unblind=args.unblind, cards=cards, judge_id=session.judge_id
    )
    status = session.status()
    print(
        f"wrote the next {written} card(s) of {session.judge_id!r}'s {order} queue to "
        f"{args.export}; fill the scores, then run with --apply"
    )
    warning = design_warning(status)
    if not written and warning is not None:
        print(f"nothing can be decided here, whatever the scores: {warning}")
    elif not written and status["can_stop"]:
        print(
            "every primary comparison is decided or out of reach (exactly or by projection): "
            "you can stop here "
            "(--order uniform exports the other cards)"
        )
    elif not written and order != "uniform":
        print(
            "the cards the queue needs now are planned for other judges: export again later, "
            "or --order uniform for other cards"
        )
    print(json.dumps(status), file=sys.stderr)
    return EXIT_OK


def run_pairs_export(client: Any, args: argparse.Namespace, stored: StoredExperiment) -> int:
    """Blind pair cards for outside judges (:mod:`tipbench_lib.judge.pair_exchange`)."""
    count = args.next or NEXT_CARDS
    written = write_pairs_export(
        stored, args.export, count, args.judge_id, hold_seconds=args.hold_hours * 3600
    )
    print(
        f"wrote {written} blind pair card(s) to {args.export}; set each answer to left, right "
        "or tie, then run with --apply"
    )
    if written < count:
        print(f"only {written} pair(s) of tips have no answer yet ({count} asked for)")
    return EXIT_OK


def run_pairs_apply(
    client: Any, args: argparse.Namespace, doc: Any, stored: StoredExperiment
) -> int:
    """Store a filled pair-card file, all of it or (on any problem) nothing."""
    try:
        plan = validate_pairs_document(doc, stored, args.judge_id, args.apply)
    except ImportRejected as exc:
        return refuse(exc)
    error = apply_pairs(client, stored, plan, required_judges=args.required_judges)
    print(
        f"applied {len(plan.pairs)} pairwise judgment(s) by {plan.judge_id!r}; "
        f"{plan.skipped} card(s) left unanswered were skipped"
    )
    if error:
        print(
            f"MLflow has not got them yet ({error}); they are safe in the journal and go out "
            "with the next command that reads the experiment",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def run_export(client: Any, args: argparse.Namespace, stored: StoredExperiment) -> int:
    if args.mode == "pairwise":
        return run_pairs_export(client, args, stored)
    if args.judge_id is not None:
        return run_queue_export(client, args, stored)
    session = JudgeSession(
        client,
        args.experiment,
        "export",
        judge_kind="import",
        required_judges=args.required_judges,
        stored=stored,
    )
    count = write_export(session, args.export, unblind=args.unblind)
    print(
        f"wrote {count} pending candidate(s) to {args.export} "
        f"({'unblind' if args.unblind else 'blind'}); fill the scores, then run with --apply"
    )
    return EXIT_OK


def run_apply(client: Any, args: argparse.Namespace, doc: Any, stored: StoredExperiment) -> int:
    if is_pairs_document(doc):
        return run_pairs_apply(client, args, doc, stored)
    try:
        plan, result = apply_document(
            client,
            args.experiment,
            doc,
            args.apply,
            args.judge_id,
            required_judges=args.required_judges,
            stored=stored,
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


def llm_backend(args: argparse.Namespace) -> tuple[Any, Any]:
    """The judge model's backend and the model checked on it, before MLflow is asked anything:
    Ollama down, an unknown model or one too large is refused in a second, not after the
    embedded server has started (docs/architecture.md §6)."""
    from tipbench_lib.backends.select import choose_backend, close_backend
    from tipbench_lib.judge.llm import check_model

    backend, why = choose_backend(args.backend)
    print(f"tipbench: {why}", file=sys.stderr)
    try:
        return backend, check_model(backend, args.llm_judge, args.max_model_b)
    except BaseException:
        close_backend(backend)
        raise


def run_llm(
    client: Any, args: argparse.Namespace, stored: StoredExperiment, backend: Any, info: Any
) -> int:
    from tipbench_lib.judge.llm import run_llm_judge

    if args.mode == "pairwise":
        return run_llm_pairs_cli(client, args, stored, backend, info)
    return run_llm_session(
        client,
        args,
        stored,
        backend,
        info,
        "judgment",
        lambda session, on_progress: run_llm_judge(
            session, backend, info, retries=args.retries, on_progress=on_progress
        ),
    )


def run_llm_session(
    client: Any,
    args: argparse.Namespace,
    stored: StoredExperiment,
    backend: Any,
    info: Any,
    unit: str,
    run: Callable[[JudgeSession, Callable[[int, int], None]], Any],
) -> int:
    """An LLM judge's run (``run``: scores or pairs) in its session, with a progress bar
    counting ``unit``; the backend closed after it; its summary printed; its exit status."""
    from tipbench_lib.backends.select import close_backend
    from tipbench_lib.core.progress import ProgressEvent, TerminalProgress

    progress = TerminalProgress(unit=unit)
    try:
        summary = run(
            llm_session(client, args, stored),
            lambda done, total: progress(ProgressEvent(done, total, info.name)),
        )
    finally:
        progress.close()
        close_backend(backend)
    for line in summary.lines():
        print(line)
    return summary.exit_code


def llm_session(client: Any, args: argparse.Namespace, stored: StoredExperiment) -> JudgeSession:
    """The LLM judge's session: its journal and queue under the id its model gives it."""
    from tipbench_lib.judge.llm import llm_judge_id

    return JudgeSession(
        client,
        args.experiment,
        llm_judge_id(args.llm_judge),
        judge_kind="llm",
        required_judges=args.required_judges,
        stored=stored,
    )


def run_llm_pairs_cli(
    client: Any, args: argparse.Namespace, stored: StoredExperiment, backend: Any, info: Any
) -> int:
    """``--llm-judge MODEL --mode pairwise``: every planned pair in both orders
    (:mod:`tipbench_lib.judge.llm_pairs`), then the judge's position bias."""
    from tipbench_lib.judge.llm_pairs import run_llm_pairs

    return run_llm_session(
        client,
        args,
        stored,
        backend,
        info,
        "pair",
        lambda session, on_progress: run_llm_pairs(
            session,
            backend,
            info,
            per_cell=args.pairs_per_cell,
            retries=args.retries,
            on_progress=on_progress,
        ),
    )


def read_experiment_delivered(client: Any, experiment: str) -> StoredExperiment:
    """The experiment, once the judgments journalled here that MLflow lacked were sent to it
    (:func:`~tipbench_lib.judge.delivery.read_delivered`); what it did not take is named."""
    stored, backlog = read_delivered(client, experiment)
    if backlog.warning():
        print(f"tipbench: {backlog.warning()}", file=sys.stderr)
    return stored


def main(argv: Sequence[str] | None = None, client: Any = None, *, prog: str = PROG) -> int:
    """The judge phase's script mode; returns the exit status (see the module docstring)."""
    args = parse(judge_parser(prog), argv)
    return guarded(lambda: _judge(args, client))


def _judge(args: argparse.Namespace, client: Any) -> int:
    own = client is None
    with data_dir_for(args.data_dir):
        backend = None
        try:
            check_queue_args(args)
            check_pairwise_args(args)
            # A bad file, a misspelt experiment, Ollama down or an unknown judge model are
            # refused before MLflow is asked for anything (the embedded server takes ~10 s).
            doc = read_document(args.apply) if args.apply else None
            if args.apply and args.mode:
                refuse_mixed_mode(doc, args.mode)
            llm = not (args.status or args.export or args.apply)
            if own:
                from tipbench_lib.tracking.local_store import refuse_unknown_experiment

                refuse_unknown_experiment(args.experiment)
            backend, info = llm_backend(args) if llm else (None, None)
            if own:
                from tipbench_lib.tracking.client import MlflowClient

                client = MlflowClient.from_env()
            stored = read_experiment_delivered(client, args.experiment)
            if args.status:
                return run_status(client, args, stored)
            if args.export:
                return run_export(client, args, stored)
            if args.apply:
                return run_apply(client, args, doc, stored)
            backend, given = None, backend  # run_llm closes it from here on
            return run_llm(client, args, stored, given, info)
        finally:
            if backend is not None:
                from tipbench_lib.backends.select import close_backend

                close_backend(backend)
            if own and client is not None:
                client.close()
