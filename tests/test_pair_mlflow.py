"""Pairwise judgments in MLflow (docs/architecture.md, sections 6 and 13), against a real server.

A judge's latest pairs go, journal first, into the run of each pair's cell A as
``pairs/<judge key>.json``, by the same syncer as scores: counted pending, retried after an
outage, and sent by the next reading command when the app died before its sender ran. Reading
them back trusts nothing: a stranger's file on a run (a pair of another experiment's tips, two
cells of different scenarios, a record on the wrong run, a forged pair id, a record of another
judge, a file too large) is left out and named.
"""

from __future__ import annotations

import json
import warnings

import pytest

from tipbench_lib.core.records import JudgeSource, PairJudgment, RubricRef
from tipbench_lib.judge.delivery import JudgmentSyncer, judge_pairs_path, read_delivered
from tipbench_lib.judge.journal import JudgeJournal, judge_key, open_journals
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import StoredExperiment, StoreWarning, read_experiment
from tipbench_lib.tracking.mapping import (
    MAX_PAIRS_BYTES,
    PAIRS_TAG,
    pairs_artifact,
    pairs_document,
)

from .test_judge import collected_experiment

T1, T2 = "2026-01-01T09:01:00.000+00:00", "2026-01-01T09:02:00.000+00:00"


def stored(client: MlflowClient, name: str) -> StoredExperiment:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        return read_experiment(client, name)


def tips_by_scenario(found: StoredExperiment) -> dict[str, list[list[tuple[str, str]]]]:
    """scenario → its cells (in cell id order) → their (candidate id, cell id)."""
    records = found.records
    out: dict[str, list[list[tuple[str, str]]]] = {}
    for cell_id in sorted(records.cells):
        scenario = records.cells[cell_id].scenario_id
        tips = [(c.candidate_id, c.cell_id) for c in records.candidates if c.cell_id == cell_id]
        out.setdefault(scenario, []).append(sorted(tips))
    return out


def shown(left, right, choice, scenario, judge="ana", at=T1, rubric=None) -> PairJudgment:
    return PairJudgment.shown(
        left,
        right,
        choice,
        scenario_id=scenario,
        source=JudgeSource("human", judge),
        rubric=rubric or RubricRef("tip-v1", "tip-v1", ""),
        created_at=at,
    )


def journal_for(found: StoredExperiment, judge: str, home) -> JudgeJournal:
    return JudgeJournal(found.records.name, judge, found.records.rubric.part_ids, home)


def sync(client, found: StoredExperiment, journal: JudgeJournal, home) -> JudgmentSyncer:
    syncer = JudgmentSyncer(client, found.records, journal, open_journals(found.records, home))
    assert syncer.sync_pending() == ""
    return syncer


def test_pairs_go_to_the_run_of_cell_a_and_read_back(mlflow_client, experiment_name, tipbench_home):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    rubric = found.records.rubric.ref
    (s1, (a1, b1)), (s2, (a2, b2)) = sorted(tips_by_scenario(found).items())
    journal = journal_for(found, "ana", tipbench_home)
    first = shown(b1[0], a1[0], "left", s1, rubric=rubric)  # B shown left, chosen
    revised = shown(a1[0], b1[0], "tie", s1, at=T2, rubric=rubric)
    other = shown(a2[1], b2[0], "right", s2, rubric=rubric)
    for p in (first, revised, other):
        journal.append_pair(p)
    syncer = JudgmentSyncer(
        mlflow_client, found.records, journal, open_journals(found.records, tipbench_home)
    )
    assert syncer.undelivered() == 2  # two cells A hold pairs MLflow lacks
    assert syncer.sync_pending() == ""
    run_a = found.records.run_ids[first.cell_a]
    run_b = found.records.run_ids[first.cell_b]
    held = json.loads(mlflow_client.download_artifact(run_a, judge_pairs_path("ana")))
    assert [r["answer"] for r in held] == ["tie"]  # the latest of the judge's two answers
    assert [f.path for f in mlflow_client.list_artifacts(run_b, "pairs")] == []
    assert [f.path for f in mlflow_client.list_artifacts(run_a, "judgments")] == []  # no scores
    again = stored(mlflow_client, experiment_name)
    assert sorted(again.records.pairs, key=lambda p: p.scenario_id) == [revised, other]
    # Journal and MLflow agree now: a syncer opened later finds nothing to send.
    later = JudgmentSyncer(
        mlflow_client, again.records, journal, open_journals(again.records, tipbench_home)
    )
    assert later.undelivered() == 0


def test_pairs_journalled_by_an_app_killed_before_delivery_are_sent_by_the_next_reader(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    journal = journal_for(found, "bo", tipbench_home)
    pair = shown(a[1], b[1], "left", scenario, judge="bo", rubric=found.records.rubric.ref)
    journal.append_pair(pair)  # the app journalled it and died: MLflow never heard of it
    assert stored(mlflow_client, experiment_name).records.pairs == []
    read, backlog = read_delivered(mlflow_client, experiment_name, tipbench_home)
    assert backlog.sent == 1 and backlog.warning() == ""
    assert read.records.pairs == [pair]


def test_an_outage_keeps_pairs_pending_and_the_next_sync_sends_them(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.tracking.server import free_port

    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=1)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    journal = journal_for(found, "ana", tipbench_home)
    syncer = JudgmentSyncer(
        mlflow_client, found.records, journal, open_journals(found.records, tipbench_home)
    )
    pair = shown(a[0], b[0], "right", scenario, rubric=found.records.rubric.ref)
    journal.append_pair(pair)
    syncer.saved([pair])
    with MlflowClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2) as dead:
        syncer.client = dead
        assert syncer.sync_pending() != ""
    assert syncer.undelivered() == 1
    syncer.client = mlflow_client
    assert syncer.sync_pending() == "" and syncer.undelivered() == 0
    assert stored(mlflow_client, experiment_name).records.pairs == [pair]


def test_a_strangers_pairs_are_left_out_and_each_file_named(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    records = found.records
    rubric = records.rubric.ref
    (s1, (a1, b1)), (s2, (a2, b2)) = sorted(tips_by_scenario(found).items())
    journal = journal_for(found, "ana", tipbench_home)
    good = shown(a1[0], b1[0], "left", s1, rubric=rubric)
    journal.append_pair(good)
    sync(mlflow_client, found, journal, tipbench_home)
    run_a1 = records.run_ids[a1[0][1]]

    def record(pair: PairJudgment, **changed) -> dict:
        return {**{k: v for k, v in pair.to_json().items() if k != "type"}, **changed}

    foreign_tip = ("f" * 64, a1[0][1])  # a candidate id of no tip of this experiment
    across = shown(a1[1], b2[0], "left", s1, judge="mallory", rubric=rubric)  # b2 is of s2
    forged = record(shown(a1[1], b1[1], "left", s1, judge="mallory"), pair_id="0" * 64)
    other_judge = record(shown(a1[1], b1[0], "right", s1, judge="ana", at=T2))
    bad_answer = record(shown(a1[0], b1[1], "left", s1, judge="mallory"), answer="maybe")
    foreign = record(shown(foreign_tip, b1[1], "left", s1, judge="mallory"))
    honest = shown(a1[1], b1[1], "tie", s1, judge="mallory", rubric=rubric)
    noted = record(shown(a1[0], b1[1], "tie", s1, judge="mallory"), note="x" * 100_000)
    planted = [record(across), forged, other_judge, bad_answer, foreign, noted, record(honest)]
    mlflow_client.log_artifact(run_a1, pairs_artifact(judge_key("mallory")), json.dumps(planted))
    # A pair held by cell B's run (A is another cell) and a file too large to be a judge's.
    wrong_run = shown(a2[0], b2[0], "left", s2, judge="eve", rubric=rubric)
    run_b2 = records.run_ids[b2[0][1]]
    mlflow_client.log_artifact(
        run_b2, pairs_artifact(judge_key("eve")), pairs_document([wrong_run])
    )
    mlflow_client.log_artifact(
        run_b2, pairs_artifact(judge_key("zed")), b"[" + b" " * MAX_PAIRS_BYTES + b"]"
    )
    # A run that does not say it holds pairs is not searched for them (no request per run)...
    unread = stored(mlflow_client, experiment_name)
    assert "eve" not in {p.judge_id for p in unread.records.pairs}
    assert not any(judge_key("eve") in line for line in unread.ignored)
    # ... and a stranger who sets the tag too gets the files read, and verified.
    mlflow_client.set_tag(run_b2, PAIRS_TAG, "true")
    with pytest.warns(StoreWarning) as caught:
        again = read_experiment(mlflow_client, experiment_name)
    assert sorted(p.judge_id for p in again.records.pairs) == ["ana", "mallory"]
    assert sorted(again.records.pairs, key=lambda p: p.judge_id) == [good, honest]
    said = [str(w.message) for w in caught if "pairs/" in str(w.message)]
    assert len(said) == 3, said  # one warning per file holding anything left out
    mallory = next(s for s in said if judge_key("mallory") in s)
    for words in (
        "6 pairwise record(s)",
        "not of the pair's scenario",
        "pair_id",
        "judge 'ana'",
        "answer 'maybe'",
        "not a verified candidate",
        "100,000 characters",
    ):
        assert words in mallory, (words, mallory)
    assert any(judge_key("eve") in s and "cell A" in s for s in said)
    assert any(judge_key("zed") in s and "larger than" in s for s in said)


def test_compare_loads_the_pairs_frame_and_a_snapshot_keeps_it(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    from tipbench_lib.compare.load import load_experiment, read_snapshot, write_snapshot
    from tipbench_lib.core.frames import pair_outcomes

    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=1)
    found = stored(mlflow_client, experiment_name)
    journal = journal_for(found, "ana", tipbench_home)
    rubric = found.records.rubric.ref
    for scenario, (a, b) in sorted(tips_by_scenario(found).items()):
        journal.append_pair(shown(a[0], b[0], "left", scenario, rubric=rubric))
    data = load_experiment(mlflow_client, experiment_name)  # sends the journal first
    assert data.pairs.height == 2 and set(data.pairs["answer"]) == {"a"}
    assert data.provenance["n_pairs"] == 2
    outcomes = pair_outcomes(data.cells, data.pairs)
    model_of = dict(data.cells.select("cell_id", "model").rows())
    for row in outcomes.iter_rows(named=True):  # A is each pair's own cell A, model by model
        assert (row["a_model"], row["b_model"]) == (
            model_of[row["cell_a"]],
            model_of[row["cell_b"]],
        )
        assert {row["a_model"], row["b_model"]} == {"gemma3-270m", "smollm2-135m"}
    back = read_snapshot(write_snapshot(data, tmp_path / "snap"))
    assert back.pairs.sort("pair_id").equals(data.pairs.sort("pair_id"))
