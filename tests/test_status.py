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
        "pairwise_judgments": 0,
        "judged_pairs": 0,
        "pair_judges": [],
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


def test_pairwise_judgments_are_counted_as_compare_counts_them():
    from tipbench_lib.core.records import PairJudgment

    def pair(a: str, b: str, judge: str, choice: str, at: str, **kw) -> PairJudgment:
        return PairJudgment.shown(
            (a, "c1"),
            (b, "c2"),
            choice,
            scenario_id="s1",
            source=JudgeSource("human", judge),
            rubric=RUBRIC.ref,
            created_at=at,
            **kw,
        )

    day1, day2 = "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"
    found = records()
    found.pairs = [
        pair("t0", "t1", "ana", "left", day1),
        pair("t0", "t1", "ana", "right", day2),  # a revision: one answer counts
        pair("t0", "t1", "bo", "tie", day1),
        pair("t2", "t3", "bo", "left", day1),
        PairJudgment(
            "t0",
            "t3",
            "c1",
            "c2",
            "s1",
            JudgeSource("llm", "llm:tiny"),
            RUBRIC.ref,
            answer="",
            order_answers={},
            status=FAILED,
            created_at=day1,
        ),  # a failed LLM judgment counts for nothing
    ]
    status = status_of(found)
    assert status["judged_candidates"] == 0
    assert (status["pairwise_judgments"], status["judged_pairs"]) == (3, 2)
    assert status["pair_judges"] == ["ana", "bo"]
