"""``tipbench status``: where an experiment stands in MLflow, as one JSON object.

``{"experiment", "cells", "candidates", "judged_candidates", "judges", "pairwise_judgments",
"judged_pairs", "pair_judges"}``: the finished cell runs, their candidate tips, how many of those
have a score that counts (a judge's latest, not a failed LLM judgment, on the experiment's rubric:
what ``tipbench compare`` reports on) and the ids of the judges who gave one; then the pairwise
judgments that count (docs/architecture.md, section 13: each judge's latest answer per pair of
tips, as compare's pairs frame holds them), the pairs of tips with at least one, and their
judges. It reads what compare reads (:func:`~tipbench_lib.judge.delivery.
read_delivered`): MLflow, once the judgments journalled on this machine that MLflow lacked (an app
killed before it sent a score) were sent to it, the only thing it writes; what MLflow did not take
is named on standard error. So ``judged_candidates`` and ``pairwise_judgments`` both 0 mean
compare has nothing to report on yet (either alone makes a report: an experiment may be judged in
pairs only, section 13); the command then also says, on standard error, how to judge and that
compare comes after.
That is how a scheduler tells "nothing judged yet" from a failed compare (the Airflow DAG's
compare task, README "Several GPU hosts").

Exit status (:mod:`tipbench_lib.core.errors`): 0 the status was read, whatever it says; 2 refused
(no such experiment, a server that does not answer like MLflow); 3 MLflow could not be reached
(run it again). Runs that are not this experiment's verified cells are not counted, and are named
on standard error (:func:`~tipbench_lib.tracking.experiment.read_experiment`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from tipbench_lib.core.arguments import parse
from tipbench_lib.core.errors import EXIT_OK, guarded
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.experiment import ExperimentRecords
from tipbench_lib.core.judgments import latest_pair_judgments

PROG = "tipbench status"


def status_of(records: ExperimentRecords) -> dict[str, Any]:
    """The status object of an experiment's records (see the module docstring)."""
    version = records.rubric.version
    candidates = {c.candidate_id for c in records.candidates}
    counting = [
        j
        for j in records.latest().values()
        if j.ok and j.scores and j.rubric.version in ("", version) and j.candidate_id in candidates
    ]
    return {
        "experiment": records.name,
        "cells": len(records.cells),
        "candidates": len(candidates),
        "judged_candidates": len({j.candidate_id for j in counting}),
        "judges": sorted({j.judge_id for j in counting}),
        **pairwise_status(records),
    }


def pairwise_status(records: ExperimentRecords) -> dict[str, Any]:
    """The pairwise part of the status: answers that count, pairs answered, their judges."""
    answers = latest_pair_judgments(p for p in records.pairs if p.ok)
    return {
        "pairwise_judgments": len(answers),
        "judged_pairs": len({pid for pid, _ in answers}),
        "pair_judges": sorted({judge for _, judge in answers}),
    }


def nothing_judged(experiment: str, status: dict[str, Any]) -> str:
    """What to do when no candidate has a score yet: judge, then compare."""
    llm = shell_command("tipbench", "judge", "--experiment", experiment, "--llm-judge", "MODEL")
    app = shell_command("make", "judge", f"EXPERIMENT={experiment}", "JUDGE=ID")
    compare = shell_command("tipbench", "compare", "--experiment", experiment, "--out", "DIR")
    return (
        f"nothing judged yet: experiment {experiment!r} holds {status['candidates']} candidate "
        f"tip(s) in {status['cells']} cell(s) and none has a score, so compare has nothing to "
        f"report on. Judge with `{llm}`, or by people in the judge app (`{app}`) or "
        f"`tipbench judge --export`/`--apply`, then run `{compare}`"
    )


def status_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Where an experiment stands in MLflow, as one JSON object on standard "
        "output: cells, candidate tips, judged candidates (what compare reports on) and "
        "judges, then pairwise judgments, judged pairs and their judges. Judgments journalled "
        "on this machine that MLflow lacks are sent to it first.",
        epilog="Exit status: 0 read (whatever it says; judged_candidates and pairwise_judgments "
        "both 0: nothing to compare yet), 2 refused (no such experiment), 3 MLflow could not "
        "be reached (run it again).",
    )
    p.add_argument("--experiment", required=True, help="MLflow experiment name")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Print the experiment's status; returns the exit status (see the module docstring)."""
    args = parse(status_parser(prog), argv)
    return guarded(lambda: _status(args.experiment))


def _status(experiment: str) -> int:
    from tipbench_lib.judge.delivery import read_delivered
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.local_store import refuse_unknown_experiment
    from tipbench_lib.tracking.server import tracking_url

    refuse_unknown_experiment(experiment)  # before the embedded server starts
    with MlflowClient(tracking_url()) as client:
        stored, backlog = read_delivered(client, experiment)
    if backlog.warning():
        print(f"tipbench: {backlog.warning()}", file=sys.stderr)
    status = status_of(stored.records)
    if not status["judged_candidates"] and not status["pairwise_judgments"]:
        print(f"tipbench: {nothing_judged(experiment, status)}", file=sys.stderr)
    print(json.dumps(status))
    return EXIT_OK
