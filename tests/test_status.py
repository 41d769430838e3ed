"""``tipbench status``: a candidate counts as judged exactly when compare would have a score for it.

The command line itself (JSON on standard output, the hint on standard error, exit 0) is run
through the console script in ``test_console_script.py`` and by the Airflow DAG's compare task in
``test_airflow_dag.py``; here the counting rule, on records built by hand.
"""

from __future__ import annotations

from types import SimpleNamespace

from tipbench_lib.core.experiment import ExperimentRecords
from tipbench_lib.core.records import FAILED, JudgeSource, Judgment, RubricRef
from tipbench_lib.core.rubric import shipped_rubric
from tipbench_lib.tracking.status import status_of

RUBRIC = shipped_rubric()
SCORES = {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": True, "overlong": False}


def judged(candidate: str, judge: str, *, version: str = RUBRIC.version, at: str = "", **kw):
    failed = kw.get("status") == FAILED
    return Judgment(
        candidate_id=candidate,
        cell_id="c1",
        source=JudgeSource("llm" if judge.startswith("llm:") else "human", judge),
        rubric=RubricRef(version, version, RUBRIC.content_hash),
        scores={} if failed else dict(SCORES),
        composite=None if failed else 14.0,
        created_at=at or "2026-01-01T00:00:00+00:00",
        **kw,
    )


def records(*judgments: Judgment) -> ExperimentRecords:
    candidates = [SimpleNamespace(candidate_id=f"t{i}") for i in range(4)]
    return ExperimentRecords(
        name="exp",
        rubric=RUBRIC,
        cells={"c1": SimpleNamespace(), "c2": SimpleNamespace()},
        candidates=candidates,  # type: ignore[arg-type]
        judgments=list(judgments),
    )


def test_nothing_counts_until_a_score_compare_would_use_exists():
    none = status_of(records())
    assert none == {
        "experiment": "exp",
        "cells": 2,
        "candidates": 4,
        "judged_candidates": 0,
        "judges": [],
    }
    not_yet = records(
        judged("t0", "llm:tiny", status=FAILED, error="no JSON"),  # a failed LLM judgment
        judged("t1", "ana", version="tip-v0"),  # another rubric: compare leaves it out
        judged("elsewhere", "ana"),  # not a candidate of this experiment
        judged("t2", "ana", at="2026-01-01T00:00:00+00:00"),
        judged("t2", "ana", at="2026-01-02T00:00:00+00:00", status=FAILED),  # the latest counts
    )
    assert status_of(not_yet)["judged_candidates"] == 0


def test_judged_candidates_and_their_judges_are_counted_once():
    found = status_of(
        records(
            judged("t0", "ana"),
            judged("t0", "llm:tiny"),
            judged("t1", "llm:tiny"),
            judged("t3", "bo", status=FAILED),
        )
    )
    assert found["judged_candidates"] == 2
    assert found["judges"] == ["ana", "llm:tiny"]
