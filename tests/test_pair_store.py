"""Pairwise judgments stored and read (docs/architecture.md, section 13): the judge's journal,
the one "latest per key counts" rule, the pairs frame and the outcomes the statistics read."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

from tipbench_lib.core.frames import pair_outcomes, pairs_frame
from tipbench_lib.core.journal import JournalWarning
from tipbench_lib.core.judgments import latest_pair_judgments, latest_pair_rows
from tipbench_lib.core.records import FAILED, JudgeSource, PairJudgment, RubricRef
from tipbench_lib.core.schema import CELLS, PAIR_OUTCOMES, PAIRS
from tipbench_lib.judge.journal import JudgeJournal, local_pairs

RUBRIC = RubricRef("tip-v1", "tip-v1", "abc")


def pair(
    left: str,
    right: str,
    choice: str,
    judge: str = "ana",
    at: str = "2026-01-01T09:00:00.000+00:00",
    scenario: str = "s1",
    kind: str = "human",
    **fields,
) -> PairJudgment:
    """A judgment of candidate ``<cell>#k`` shown left against another shown right."""
    return PairJudgment.shown(
        (left, left.split("#")[0]),
        (right, right.split("#")[0]),
        choice,
        scenario_id=scenario,
        source=JudgeSource(kind, judge),
        rubric=RUBRIC,
        created_at=at,
        **fields,
    )


def cells_frame(*cells: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "cell_id": c,
                "model": m,
                "prompt_version": p,
                "scenario_id": s,
                "persona": "nurse",
                "time_slot": "morning",
            }
            for c, m, p, s in cells
        ],
        schema=CELLS,
    )


T1, T2, T3 = (f"2026-01-01T09:0{i}:00.000+00:00" for i in (1, 2, 3))


def test_journal_keeps_every_pair_and_the_latest_per_pair_counts(tmp_path):
    journal = JudgeJournal("exp", "ana", ("relevance",), tmp_path)
    first = pair("c2#0", "c1#0", "left", at=T1)
    revised = pair("c1#0", "c2#0", "left", at=T2)  # same two tips, other sides, other answer
    other = pair("c1#1", "c3#0", "tie", at=T1)
    for p in (first, revised, other):
        journal.append_pair(p)
    assert journal.pairs() == [first, revised, other]
    assert first.key == revised.key
    assert journal.latest_pairs() == {revised.pair_id: revised, other.pair_id: other}
    assert revised.answer == "a" and first.answer == "b"
    assert journal.judgments() == []  # the score readers never see a pair record
    assert [p.pair_id for p in local_pairs("exp", tmp_path)] == [p.pair_id for p in journal.pairs()]


def test_journal_refuses_another_judges_pair(tmp_path):
    journal = JudgeJournal("exp", "ana", (), tmp_path)
    with pytest.raises(Exception, match="'bo'"):
        journal.append_pair(pair("c1#0", "c2#0", "left", judge="bo"))
    assert journal.pairs() == []


def test_a_hand_edited_pair_record_is_skipped_with_one_warning(tmp_path):
    journal = JudgeJournal("exp", "ana", (), tmp_path)
    journal.append_pair(pair("c1#0", "c2#0", "left"))
    bad = {**pair("c1#1", "c2#1", "left").to_json(), "answer": "maybe"}
    with journal.path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(bad) + "\n")
    with pytest.warns(JournalWarning, match="1 pairwise record"):
        assert len(journal.pairs()) == 1


def test_the_one_rule_orders_by_time_and_later_sources_win_ties():
    early, late = pair("c1#0", "c2#0", "left", at=T2), pair("c1#0", "c2#0", "right", at=T1)
    assert latest_pair_judgments([early, late])[early.key] is early  # time, not order
    same = pair("c1#0", "c2#0", "tie", at=T2)
    assert latest_pair_judgments([early], [same])[early.key] is same  # equal: the later source


def test_pairs_frame_counts_ok_judgments_only_the_latest_per_key():
    ok = pair("c1#0", "c2#0", "left", at=T1)
    revised = pair("c2#0", "c1#0", "left", at=T2)
    failed = PairJudgment(
        "c1#0",
        "c2#0",
        "c1",
        "c2",
        "s1",
        JudgeSource("llm", "judge-llm"),
        RUBRIC,
        answer="",
        order_answers={},
        status=FAILED,
        created_at=T3,
    )
    frame = pairs_frame([ok, revised, failed, pair("c1#0", "c3#0", "tie", judge="bo")])
    assert frame.schema == pl.Schema(PAIRS)
    rows = {(r["pair_id"], r["judge_id"]): r for r in frame.iter_rows(named=True)}
    assert len(rows) == 2
    mine = rows[(ok.pair_id, "ana")]
    assert (mine["answer"], mine["n_left"], mine["n_right"]) == ("b", 1, 0)
    assert pairs_frame([]).schema == pl.Schema(PAIRS)
    assert pairs_frame([failed]).height == 0


def test_pair_outcomes_names_each_side_and_leaves_out_pairs_of_unknown_cells():
    cells = cells_frame(
        ("c1", "gemma", "v1", "s1"),
        ("c2", "qwen", "v2", "s1"),
        ("c4", "qwen", "v1", "s2"),
    )
    kept = pair("c2#0", "c1#0", "left")
    stranger = pair("c1#0", "c9#0", "right")
    other_scenario = pair("c1#0", "c4#0", "left")  # c4 is a cell of s2, the pair says s1
    left_out: list[str] = []
    outcomes = pair_outcomes(cells, pairs_frame([kept, stranger, other_scenario]), left_out)
    assert dict(list(outcomes.schema.items())[: len(PAIR_OUTCOMES)]) == PAIR_OUTCOMES
    assert outcomes.select("a_model", "a_prompt", "b_model", "b_prompt", "answer").rows() == [
        ("gemma", "v1", "qwen", "v2", "b")
    ]
    assert outcomes["pair_id"].to_list() == [kept.pair_id]
    assert len(left_out) == 1 and left_out[0].startswith("2 pairwise judgment(s) left out")
    assert stranger.pair_id in left_out[0] and other_scenario.pair_id in left_out[0]
    empty = pair_outcomes(cells, pairs_frame([]))
    assert empty.height == 0 and set(PAIR_OUTCOMES) <= set(empty.columns)


def test_pair_outcomes_counts_each_judge_once_per_pair():
    cells = cells_frame(("c1", "gemma", "v1", "s1"), ("c2", "qwen", "v1", "s1"))
    frame = pl.concat(
        [
            pairs_frame([pair("c1#0", "c2#0", "left", at=T1)]),
            pairs_frame([pair("c1#0", "c2#0", "right", at=T2)]),
        ]
    )
    assert latest_pair_rows(frame).height == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pair_outcomes(cells, frame)["answer"].to_list() == ["b"]


# -- the pairs frame in compare's data: snapshots ------------------------------------------------


def synthetic_pairs(experiment, n: int = 12) -> list[PairJudgment]:
    """Pairwise judgments of ``n`` pairs of tips of two cells of one scenario each."""
    cells = experiment.cells.select("cell_id", "scenario_id").rows()
    tips = experiment.candidates.group_by("cell_id").agg("candidate_id")
    by_cell = {cell: sorted(ids) for cell, ids in tips.rows()}
    by_scenario: dict[str, list[str]] = {}
    for cell, scenario in sorted(cells):
        by_scenario.setdefault(scenario, []).append(cell)
    pairs = []
    for index, (scenario, cell_ids) in enumerate(sorted(by_scenario.items())):
        if len(pairs) == n:
            break
        first, second = cell_ids[0], cell_ids[1]
        left = (by_cell[first][0], first)
        right = (by_cell[second][0], second)
        choice = ("left", "right", "tie")[index % 3]
        pairs.append(
            PairJudgment.shown(
                left,
                right,
                choice,
                scenario_id=scenario,
                source=JudgeSource("human", "ana"),
                rubric=RUBRIC,
                created_at=T1,
            )
        )
    return pairs


def test_a_snapshot_keeps_the_pairs_and_one_without_them_has_none(tmp_path):
    from tipbench_lib.compare.load import PAIRS_FILE, ExperimentData, read_snapshot, write_snapshot
    from tipbench_lib.validation import synthetic

    exp = synthetic.generate(n_models=2, n_prompts=2, n_scenarios=6, seed=3)
    pairs = pairs_frame(synthetic_pairs(exp))
    assert pairs.height == 6
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "x"})
    assert data.pairs.schema == pl.Schema(PAIRS) and data.pairs.height == 0
    data.pairs = pairs
    snap = write_snapshot(data, tmp_path / "snap")
    back = read_snapshot(snap)
    assert back.pairs.sort("pair_id").equals(pairs.sort("pair_id"))
    assert back.warnings == []
    (snap / PAIRS_FILE).unlink()
    assert read_snapshot(snap).pairs.schema == pl.Schema(PAIRS)
    assert read_snapshot(snap).pairs.height == 0


def test_a_snapshots_forged_pairs_are_left_out_and_named(tmp_path):
    from tipbench_lib.compare.load import PAIRS_FILE, ExperimentData, read_snapshot, write_snapshot
    from tipbench_lib.validation import synthetic

    exp = synthetic.generate(n_models=2, n_prompts=2, n_scenarios=6, seed=3)
    pairs = pairs_frame(synthetic_pairs(exp))
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "x"})
    snap = write_snapshot(data, tmp_path / "snap")
    forged = pl.concat(
        [
            pairs.head(2),
            pairs.slice(2, 1).with_columns(pl.lit("0" * 16).alias("pair_id")),
            pairs.slice(3, 1).with_columns(pl.lit("maybe").alias("answer")),
            pairs.slice(4, 1).with_columns(pl.lit("nobody").alias("candidate_b")),
            pairs.slice(5, 1).with_columns(
                pl.col("cell_b").alias("cell_a"), pl.col("cell_a").alias("cell_b")
            ),
        ]
    )
    forged.write_parquet(snap / PAIRS_FILE)
    back = read_snapshot(snap)
    assert back.pairs.sort("pair_id").equals(pairs.head(2).sort("pair_id"))
    (said,) = [w for w in back.warnings if PAIRS_FILE in w]
    assert said.count("row ") == 4 and "4 pairwise judgment(s) left out" in said
    for words in ("pair_id", "'maybe'", "candidates frame", "A the smaller cell id"):
        assert words in said, (words, said)


def test_a_selection_keeps_only_the_pairs_of_its_cells_and_judges():
    from tipbench_lib.compare.job import Selection, apply_selection
    from tipbench_lib.compare.load import ExperimentData
    from tipbench_lib.validation import synthetic

    exp = synthetic.generate(n_models=2, n_prompts=2, n_scenarios=6, seed=3)
    judged = synthetic_pairs(exp)
    by_bo = [
        PairJudgment.shown(
            (p.candidate_a, p.cell_a),
            (p.candidate_b, p.cell_b),
            "tie",
            scenario_id=p.scenario_id,
            source=JudgeSource("human", "bo"),
            rubric=RUBRIC,
            created_at=T1,
        )
        for p in judged
    ]
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "x"})
    data.pairs = pairs_frame([*judged, *by_bo])
    scenario = exp.cells["scenario_id"][0]
    chosen = apply_selection(data, Selection(scenarios=(scenario,), judges=("bo",)))
    cells = set(chosen.cells["cell_id"])
    assert chosen.pairs.height == 1
    assert set(chosen.pairs["cell_a"]) | set(chosen.pairs["cell_b"]) <= cells
    assert set(chosen.pairs["judge_id"]) == {"bo"}
