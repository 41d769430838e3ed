"""The compare phase end to end: load (MLflow or snapshot), filter, analyse, write the outputs.

Shared by ``notebooks/compare.py`` in every mode: the notebook's filters and the script's flags
build the same :class:`Selection`, and both write the report through the same function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tipbench_lib.compare.load import ExperimentData, load_experiment, read_snapshot, write_snapshot
from tipbench_lib.compare.report import ReportData, write_report, write_tables
from tipbench_lib.core.errors import TipbenchError, TrackingError
from tipbench_lib.core.paths import DATA_DIR

SAMPLE_DIR = DATA_DIR / "sample"


@dataclass(frozen=True)
class Selection:
    """Which part of the experiment to analyse; empty means everything."""

    models: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    judges: tuple[str, ...] = ()


def load_source(experiment: str | None = None, data_dir: Path | None = None) -> ExperimentData:
    """An experiment from MLflow (by name) or a snapshot directory; the sample when neither."""
    if experiment and data_dir:
        raise ValueError("give either --experiment or --data, not both")
    if experiment:
        from tipbench_lib.tracking.client import MlflowClient
        from tipbench_lib.tracking.server import tracking_url

        with MlflowClient(tracking_url()) as client:
            return load_experiment(client, experiment)
    return read_snapshot(data_dir or SAMPLE_DIR)


def apply_selection(data: ExperimentData, selection: Selection) -> ExperimentData:
    """Keep the chosen models, prompts, scenarios and judges; provenance is kept as it was."""
    cells = data.cells
    for column, wanted in (
        ("model", selection.models),
        ("prompt_version", selection.prompts),
        ("scenario_id", selection.scenarios),
    ):
        if wanted:
            cells = cells.filter(pl.col(column).is_in(list(wanted)))
    candidates = data.candidates.filter(pl.col("cell_id").is_in(cells["cell_id"].implode()))
    judgments = data.judgments.filter(
        pl.col("candidate_id").is_in(candidates["candidate_id"].implode())
    )
    if selection.judges:
        judgments = judgments.filter(pl.col("judge_id").is_in(list(selection.judges)))
    return ExperimentData(cells, candidates, judgments, data.provenance, data.run_ids)


def for_display(frame: pl.DataFrame, digits: int = 2) -> pl.DataFrame:
    """Floats rounded for reading in a table; the CSVs and the report keep full precision."""
    return frame.with_columns(pl.col(pl.Float64).round(digits))


def parse_cell(text: str | None) -> tuple[str, str] | None:
    """``model:prompt`` → (model, prompt); the prompt version may not contain a colon."""
    if not text:
        return None
    model, sep, prompt = text.rpartition(":")
    if not sep or not model or not prompt:
        raise ValueError(f"--baseline takes MODEL:PROMPT (e.g. smollm2-135m:v1), got {text!r}")
    return model, prompt


def analyse(
    data: ExperimentData,
    *,
    baseline: tuple[str, str] | None = None,
    alpha: float = 0.05,
    view: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> ReportData:
    """All statistics the notebook and the report show, computed once.

    ``view`` picks the judges: ``people``, ``all`` or an LLM judge's id (default: people when
    any person judged, else the LLM judge with the most judgments).
    """
    if baseline is not None:
        known = set(data.cells.select("model", "prompt_version").unique().iter_rows())
        if baseline not in known:
            cells = ", ".join(f"{m}:{p}" for m, p in sorted(known))
            raise ValueError(
                f"the baseline {baseline[0]}:{baseline[1]} is not a cell here; known cells: {cells}"
            )
    return ReportData.compute(
        data.cells,
        data.candidates,
        data.judgments,
        baseline=baseline,
        alpha=alpha,
        view=view,
        provenance=data.provenance,
        n_boot=n_boot,
        seed=seed,
    )


def write_outputs(
    out: Path,
    analysis: ReportData,
    data: ExperimentData,
    *,
    baseline: tuple[str, str] | None,
    alpha: float,
) -> Path:
    """``report.html``, ``leaderboard.csv`` and ``comparisons.csv`` in ``out``."""
    write_tables(out, analysis.leaderboard, analysis.comparisons)
    return write_report(
        out, data=analysis, provenance=data.provenance, baseline=baseline, alpha=alpha
    )


def compare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python notebooks/compare.py",
        description="Leaderboard, paired comparisons and an offline HTML report for an "
        "experiment (from MLflow) or a snapshot directory.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--experiment", help="MLflow experiment name")
    source.add_argument("--data", type=Path, help="snapshot directory (three parquet files)")
    p.add_argument("--out", type=Path, help="write report.html, leaderboard.csv, comparisons.csv")
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
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (Holm)")
    p.add_argument("--models", default="", help="comma list: only these models")
    p.add_argument("--prompts", default="", help="comma list: only these prompt versions")
    p.add_argument("--judges", default="", help="comma list: only these judge ids")
    p.add_argument(
        "--n-boot", type=int, default=2000, help="bootstrap resamples (bootstrap intervals only)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--log-summary",
        action="store_true",
        help="with --experiment and --out: log report.html, leaderboard.csv and comparisons.csv "
        "to the experiment's summary run in MLflow (one run, updated by every compare)",
    )
    return p


def _split(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def log_summary_run(experiment: str, out: Path) -> str:
    """The outputs in ``out`` as the experiment's summary run; returns the run id."""
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url
    from tipbench_lib.tracking.summary import log_summary

    with MlflowClient(tracking_url()) as client:
        return log_summary(client, experiment, out).run_id


def compare_main(argv: Sequence[str] | None = None) -> int:
    """The script mode: exit 0 when the outputs were written, 2 when refused, 1 when the
    outputs were written but MLflow did not take the summary run (run it again)."""
    args = compare_parser().parse_args(argv)
    if not (args.experiment or args.data):
        print("tipbench: refused: give --experiment NAME or --data DIR", file=sys.stderr)
        return 2
    if not (args.out or args.snapshot):
        print("tipbench: refused: give --out DIR (report) and/or --snapshot DIR", file=sys.stderr)
        return 2
    if args.snapshot and not args.experiment:
        print("tipbench: refused: --snapshot needs --experiment", file=sys.stderr)
        return 2
    if args.log_summary and not (args.experiment and args.out):
        print("tipbench: refused: --log-summary needs --experiment and --out", file=sys.stderr)
        return 2
    try:
        data = load_source(args.experiment, args.data)
        if args.snapshot:
            write_snapshot(data, args.snapshot)
            print(f"snapshot: {args.snapshot.resolve()}")
        if args.out:
            selection = Selection(
                _split(args.models), _split(args.prompts), (), _split(args.judges)
            )
            chosen = apply_selection(data, selection)
            baseline = parse_cell(args.baseline)
            analysis = analyse(
                chosen,
                baseline=baseline,
                alpha=args.alpha,
                view=args.view,
                n_boot=args.n_boot,
                seed=args.seed,
            )
            path = write_outputs(args.out, analysis, chosen, baseline=baseline, alpha=args.alpha)
            print(f"report: {path.resolve()}")
            print(
                f"tables: {(args.out / 'leaderboard.csv').resolve()}, "
                f"{(args.out / 'comparisons.csv').resolve()}"
            )
    except (TipbenchError, ValueError) as exc:
        print(f"tipbench: refused: {exc}", file=sys.stderr)
        return 2
    if args.log_summary:
        try:
            print(f"MLflow summary run: {log_summary_run(args.experiment, args.out)}")
        except TrackingError as exc:  # the report is written; only MLflow has to catch up
            print(f"tipbench: the summary run was not logged: {exc}", file=sys.stderr)
            return 1
    return 0
