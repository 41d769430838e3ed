"""``tipbench compare`` (and ``python notebooks/compare.py``): the report without the app.

The exit status follows :mod:`tipbench_lib.core.errors`: 0 the outputs were written; 1 they were
written but MLflow did not take the summary run (run it again); 2 refused (bad arguments, nothing to
report on, a snapshot that cannot be read), nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.job import (
    Selection,
    apply_selection,
    load_source,
    parse_cell,
    write_outputs,
    written_tables,
)
from tipbench_lib.compare.load import write_snapshot
from tipbench_lib.core.arguments import add_data_dir, parse, split_list
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_OK, TrackingError, guarded, refuse
from tipbench_lib.core.paths import data_dir_for

PROG = "tipbench compare"


def compare_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Leaderboard, paired comparisons and an offline HTML report for an "
        "experiment (from MLflow) or a snapshot directory (--data; the shipped sample is one).",
        epilog="Exit status: 0 written, 1 written but the MLflow summary run was not logged, "
        "2 refused (nothing written).",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--experiment", help="MLflow experiment name")
    source.add_argument("--data", type=Path, help="snapshot directory (three parquet files)")
    source.add_argument(
        "--sample",
        action="store_true",
        help="the sample experiment shipped with tipbench (a snapshot; see its README.md)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="write report.html, leaderboard.csv, comparisons.csv (with pairwise judgments also "
        "pairwise_leaderboard.csv, pairwise.csv)",
    )
    p.add_argument("--snapshot", type=Path, help="with --experiment: write a snapshot here")
    p.add_argument(
        "--baseline",
        help="MODEL:PROMPT named before seeing the data: the primary family is every cell "
        "against it (without one, all pairs are the primary family)",
    )
    p.add_argument(
        "--view",
        help="whose scores: people, all, or an LLM judge id (default: people when any person "
        "judged, else the LLM judge with the most judgments)",
    )
    p.add_argument(
        "--ppi",
        metavar="LLM_JUDGE_ID",
        help="combine this LLM judge (on every tip) with people's randomly drawn scenarios "
        "(judged in ppi-uniform order) by prediction-powered inference; refused when people's "
        "scenarios are not that random order's. Without it, PPI is shown whenever valid",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (Holm)")
    p.add_argument("--models", default="", help="comma list: only these models")
    p.add_argument("--prompts", default="", help="comma list: only these prompt versions")
    p.add_argument("--judges", default="", help="comma list: only these judge ids")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--log-summary",
        action="store_true",
        help="with --experiment and --out: log report.html, leaderboard.csv and comparisons.csv "
        "to the experiment's summary run in MLflow (one run, updated by every compare)",
    )
    add_data_dir(p)
    return p


def argument_problem(args: argparse.Namespace) -> str:
    """Why these arguments cannot make a report ('' when they can)."""
    if not (args.experiment or args.data or args.sample):
        return "give --experiment NAME, --data DIR or --sample"
    if not (args.out or args.snapshot):
        return "give --out DIR (report) and/or --snapshot DIR"
    if args.snapshot and not args.experiment:
        return "--snapshot needs --experiment"
    if args.log_summary and not (args.experiment and args.out):
        return "--log-summary needs --experiment and --out"
    return ""


def log_summary_run(experiment: str, out: Path, analysis: Analysis | None = None) -> str:
    """The outputs in ``out`` as the experiment's summary run, with the analysis's headline
    as metrics and tags (:mod:`.summary_fields`), and the pairwise tables when the analysis
    has pairs (``docs/architecture.md`` section 13); returns the run id."""
    from tipbench_lib.compare.summary_fields import SummaryFields, summary_fields
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url
    from tipbench_lib.tracking.summary import SUMMARY_FILES, log_summary

    fields = summary_fields(analysis) if analysis is not None else SummaryFields()
    files = ("report.html", *written_tables(analysis)) if analysis is not None else SUMMARY_FILES
    with MlflowClient(tracking_url()) as client:
        run = log_summary(
            client, experiment, out, metrics=fields.metrics, tags=fields.tags, files=files
        )
        return run.run_id


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """The compare phase's script mode; returns the exit status (see the module docstring)."""
    args = parse(compare_parser(prog), argv)
    problem = argument_problem(args)
    if problem:
        return refuse(problem)
    return guarded(lambda: _compare(args))


def _compare(args: argparse.Namespace) -> int:
    analysis: Analysis | None = None
    with data_dir_for(args.data_dir):
        data = load_source(args.experiment, args.data)  # neither: the sample
        if args.snapshot:
            write_snapshot(data, args.snapshot)
            print(f"snapshot: {args.snapshot.resolve()}")
        if args.out:
            selection = Selection(
                split_list(args.models), split_list(args.prompts), (), split_list(args.judges)
            )
            chosen = apply_selection(data, selection)
            options = Options(
                baseline=parse_cell(args.baseline),
                alpha=args.alpha,
                view=args.view,
                ppi=args.ppi,
                seed=args.seed,
            )
            analysis = analyse(chosen, options)
            path = write_outputs(args.out, analysis)
            print(f"report: {path.resolve()}")
            tables = written_tables(analysis)
            print(f"tables: {', '.join(str((args.out / t).resolve()) for t in tables)}")
    if args.log_summary:
        try:
            print(f"MLflow summary run: {log_summary_run(args.experiment, args.out, analysis)}")
        except TrackingError as exc:  # the report is written; only MLflow has to catch up
            print(f"tipbench: the summary run was not logged: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK
