"""The collect phase: a grid of model x prompt version x scenario, several candidate tips a cell.

A request (``job``) is checked and refused before any model is loaded; the plan (``plan``) names
every cell by a hash of its inputs and orders the grid model by model; the runner (``runner``)
keeps one model resident, claims each cell in MLflow before generating it (``claims``: any number
of workers make one run per cell), writes each candidate to the collect journal (``journal``)
first and hands finished cells to the delivery (``delivery``). What MLflow already holds is
verified and taken in (``adoption``); a cell's extra finished runs are reconciled, their
judgments moved, nothing deleted (``reconcile``).
An experiment keeps one set of generation settings (``settings``): a run with others is refused.
An outage interrupts the run without failing a cell; the same command resumes. ``cli`` is
``tipbench collect``.
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    job=("CollectRequest", "interactive_job", "prepare", "run_prepared"),
    plan=("PlannedCell", "CollectConfig", "describe_models", "plan_cells"),
    runner=("CollectSummary", "Collector", "pending_work"),
    journal=("CollectJournal", "CollectState"),
    delivery=("BackgroundSender", "CellSyncer"),
    claims=("Claims", "Claim"),
    reconcile=("reconcile",),
    settings=("held_cells", "planned_settings", "refuse_mixed_settings"),
    cli=("main",),
)
