"""The compare phase end to end: load (MLflow or snapshot), filter, analyse, write the outputs.

Shared by ``notebooks/compare.py`` in every mode and by ``tipbench compare`` (:mod:`.cli`): the
notebook's filters and the command's flags build the same :class:`Selection` and the same
:class:`~tipbench_lib.compare.analysis.Options`, both analyse with
:func:`~tipbench_lib.compare.analysis.analyse`, and both write the outputs through
:func:`write_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from tipbench_lib.compare.analysis import Analysis
from tipbench_lib.compare.load import ExperimentData, load_experiment, read_snapshot
from tipbench_lib.compare.report import write_report
from tipbench_lib.compare.tables import PAIRWISE_FILES, write_pairwise_tables, write_tables
from tipbench_lib.core.paths import data_dirs

SAMPLE = "sample"
"""The shipped sample experiment, in the data directories (a snapshot directory)."""


def sample_dir() -> Path:
    """Where the sample snapshot is: the user's ``sample/`` if they have one, else the shipped."""
    return data_dirs().file(SAMPLE)


@dataclass(frozen=True)
class Selection:
    """Which part of the experiment to analyse; empty means everything."""

    models: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    judges: tuple[str, ...] = ()


def load_source(experiment: str | None = None, snapshot: Path | None = None) -> ExperimentData:
    """An experiment from MLflow (by name) or a snapshot directory; the sample when neither."""
    if experiment and snapshot:
        raise ValueError("give either --experiment or --data, not both")
    if experiment:
        from tipbench_lib.tracking.client import MlflowClient
        from tipbench_lib.tracking.local_store import refuse_unknown_experiment
        from tipbench_lib.tracking.server import tracking_url

        refuse_unknown_experiment(experiment)  # before the embedded server starts
        with MlflowClient(tracking_url()) as client:
            return load_experiment(client, experiment)
    return read_snapshot(snapshot or sample_dir())


def apply_selection(data: ExperimentData, selection: Selection) -> ExperimentData:
    """Keep the chosen models, prompts, scenarios and judges; provenance is kept as it was.

    A pairwise judgment stays when both its cells and its judge do."""
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
    kept = cells["cell_id"].implode()
    pairs = data.pairs.filter(pl.col("cell_a").is_in(kept) & pl.col("cell_b").is_in(kept))
    if selection.judges:
        judgments = judgments.filter(pl.col("judge_id").is_in(list(selection.judges)))
        pairs = pairs.filter(pl.col("judge_id").is_in(list(selection.judges)))
    return replace(data, cells=cells, candidates=candidates, judgments=judgments, pairs=pairs)


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


def write_outputs(out: Path, analysis: Analysis) -> Path:
    """``report.html``, ``leaderboard.csv`` and ``comparisons.csv`` in ``out`` (and, with
    pairwise judgments, ``pairwise_leaderboard.csv`` and ``pairwise.csv``); the page's path.
    Judged in pairs only, the rubric's two tables are not written (:func:`written_tables`)."""
    if analysis.rubric_judged:
        write_tables(
            out,
            analysis.leaderboard,
            analysis.comparisons,
            dimensions=analysis.rubric.dimension_ids,
        )
    if analysis.pairwise is not None:
        write_pairwise_tables(out, analysis.pairwise.leaderboard, analysis.pairwise.comparisons)
    return write_report(out, analysis)


def written_tables(analysis: Analysis) -> tuple[str, ...]:
    """The CSV files :func:`write_outputs` writes for this analysis, in order."""
    rubric = ("leaderboard.csv", "comparisons.csv") if analysis.rubric_judged else ()
    return (*rubric, *(PAIRWISE_FILES if analysis.pairwise is not None else ()))
