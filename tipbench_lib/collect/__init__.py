"""The collect phase: a grid of model x prompt version x scenario, several candidate tips a cell.

A request (``job``) is checked and refused before any model is loaded; the plan (``plan``) names
every cell by a hash of its inputs and orders the grid model by model; the runner (``runner``)
keeps one model resident, writes each candidate to the collect journal (``journal``) first and
hands finished cells to the delivery (``delivery``), which makes each cell exactly one MLflow run.
An outage interrupts the run without failing a cell; the same command resumes. ``cli`` is
``tipbench collect``.
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "CollectRequest": "job",
    "interactive_job": "job",
    "prepare": "job",
    "run_prepared": "job",
    "Cell": "plan",
    "CollectConfig": "plan",
    "describe_models": "plan",
    "plan_cells": "plan",
    "CollectSummary": "runner",
    "Collector": "runner",
    "pending_work": "runner",
    "CellRecord": "journal",
    "CollectJournal": "journal",
    "CollectState": "journal",
    "BackgroundSender": "delivery",
    "CellSyncer": "delivery",
    "main": "cli",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
