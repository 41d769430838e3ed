"""Pairwise judgments where they meet the rest of the store (docs/architecture.md, sections 5, 6,
13), against a real MLflow server: a cell's duplicate runs reconciled with the pairs they hold,
pairs of another rubric version left out at load and refused at apply, and pair-only judges in
the experiment's provenance."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

from tipbench_lib.collect.reconcile import reconcile
from tipbench_lib.compare.load import load_experiment, read_snapshot, write_snapshot
from tipbench_lib.core.errors import EXIT_REFUSED
from tipbench_lib.core.frames import pairs_frame
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.records import RubricRef
from tipbench_lib.judge.delivery import read_delivered
from tipbench_lib.judge.journal import judge_key
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import StoreWarning
from tipbench_lib.tracking.mapping import (
    DUPLICATE_TAG,
    PAIRS_TAG,
    pairs_artifact,
    pairs_document,
    read_cell_artifact,
)

from .test_collect_concurrency import cell_runs, plant_copy
from .test_judge import collected_experiment
from .test_pair_mlflow import T2, journal_for, shown, stored, sync, tips_by_scenario


def _reconciled(client: MlflowClient, experiment: str) -> list[str]:
    """Reconcile every cell of the experiment, as a collect does for the cells it plans."""
    runs = cell_runs(client, experiment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        lines, _tagged = reconcile(client, experiment, runs, sorted(runs))
    return lines


def _pair_files(client: MlflowClient, run_id: str) -> dict[str, list[dict]]:
    return {
        f.path: json.loads(client.download_artifact(run_id, f.path))
        for f in client.list_artifacts(run_id, "pairs")
    }


# -- 1. reconcile moves pairs as it moves judgments ------------------------------------------


def test_pairs_on_a_duplicate_run_move_to_the_kept_run_with_their_tag(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    rubric = found.records.rubric.ref
    cell_a = a[0][1]
    original = mlflow_client.get_run(found.records.run_ids[cell_a])
    # Ana's pair goes, as every pair does, to the run standing for cell A.
    ana = journal_for(found, "ana", tipbench_home)
    ana_pair = shown(a[0], b[0], "left", scenario, rubric=rubric)
    ana.append_pair(ana_pair)
    sync(mlflow_client, found, ana, tipbench_home)
    # A second worker's copy of cell A (the same tips, later), where Bo's pairs landed: Bo read
    # the experiment while the copy stood for the cell (e.g. before the original finished).
    tips = read_cell_artifact(mlflow_client, original).candidates
    copy = plant_copy(mlflow_client, original, tips, start_time_ms=original.start_time + 1)
    bo_pairs = [
        shown(a[1], b[1], "right", scenario, judge="bo", rubric=rubric),
        shown(a[0], b[0], "tie", scenario, judge="bo", rubric=rubric),
    ]
    mlflow_client.log_artifact(copy, pairs_artifact(judge_key("bo")), pairs_document(bo_pairs))
    mlflow_client.set_tag(copy, PAIRS_TAG, "true")
    # A later answer of Ana's on the copy revises hers; an older one there must not.
    ana_later = shown(a[0], b[0], "right", scenario, at=T2, rubric=rubric)
    ana_older = shown(a[1], b[0], "tie", scenario, at="2025-01-01T00:00:00+00:00", rubric=rubric)
    ana_newest_there = shown(a[1], b[0], "left", scenario, at=T2, rubric=rubric)
    ana.append_pair(ana_newest_there)
    sync(mlflow_client, found, ana, tipbench_home)  # on the original: Ana's file holds 2 pairs
    mlflow_client.log_artifact(
        copy, pairs_artifact(judge_key("ana")), pairs_document([ana_later, ana_older])
    )
    before = sorted(stored(mlflow_client, experiment_name).records.pairs, key=_order)
    assert len(before) == 4  # every file of both runs is read while the cell has two runs

    lines = _reconciled(mlflow_client, experiment_name)

    assert mlflow_client.get_run(copy).tags.get(DUPLICATE_TAG) == original.run_id
    after = sorted(stored(mlflow_client, experiment_name).records.pairs, key=_order)
    assert after == before, "a pair was lost when the duplicate was tagged"
    assert "3 pairwise judgment(s)" in " ".join(lines), lines  # Bo's two, Ana's later one
    assert {p.answer for p in after if p.judge_id == "ana"} == {"b", "a"}
    kept = mlflow_client.get_run(original.run_id)
    assert kept.tags.get(PAIRS_TAG) == "true"
    held = _pair_files(mlflow_client, original.run_id)
    assert sorted(len(v) for v in held.values()) == [2, 2], held
    assert _pair_files(mlflow_client, copy), "nothing is deleted from the duplicate"
    assert {r.run_id for rs in cell_runs(mlflow_client, experiment_name).values() for r in rs} >= {
        copy,
        original.run_id,
    }
    # Reconciling again moves nothing more and keeps every pair.
    _reconciled(mlflow_client, experiment_name)
    assert sorted(stored(mlflow_client, experiment_name).records.pairs, key=_order) == before


def test_the_kept_run_gets_the_pairs_tag_with_its_first_pairs(
    mlflow_client, experiment_name, tipbench_home
):
    """The kept run held scores only: the pairs moved to it must be listed by readers, which look
    for pairs only on runs tagged ``tipbench.has_pairs``."""
    from tipbench_lib.judge.session import JudgeSession

    from .test_judge import tip

    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    original = mlflow_client.get_run(found.records.run_ids[a[0][1]])
    assert (
        JudgeSession(mlflow_client, experiment_name, "ana")
        .save(a[0][0], tip(4, 4, 4, True, False))
        .synced
    )
    tips = read_cell_artifact(mlflow_client, original).candidates
    copy = plant_copy(mlflow_client, original, tips, start_time_ms=original.start_time + 1)
    bo = [shown(a[1], b[0], "left", scenario, judge="bo", rubric=found.records.rubric.ref)]
    mlflow_client.log_artifact(copy, pairs_artifact(judge_key("bo")), pairs_document(bo))
    mlflow_client.set_tag(copy, PAIRS_TAG, "true")
    assert not mlflow_client.get_run(original.run_id).tags.get(PAIRS_TAG)

    _reconciled(mlflow_client, experiment_name)

    assert mlflow_client.get_run(original.run_id).tags.get(PAIRS_TAG) == "true"
    assert stored(mlflow_client, experiment_name).records.pairs == bo


def _order(pair) -> tuple[str, str]:
    return (pair.judge_id, pair.pair_id)


def test_a_run_whose_tips_were_judged_in_pairs_only_stands_for_its_cell(
    mlflow_client, experiment_name, tipbench_home
):
    """Two workers made cell A with other texts. The later run is the one judges saw (the
    earlier one finished after they began): its tips hold pairwise answers and no score. Every
    reader, and reconcile, keep that run, as they keep a run holding scores."""
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    rubric = found.records.rubric.ref
    cell_a = a[0][1]
    judged = mlflow_client.get_run(found.records.run_ids[cell_a])
    ana = journal_for(found, "ana", tipbench_home)
    pairs = [shown(a[0], b[0], "left", scenario, rubric=rubric)]
    pairs.append(shown(a[1], b[1], "tie", scenario, rubric=rubric))
    for pair in pairs:
        ana.append_pair(pair)
    sync(mlflow_client, found, ana, tipbench_home)
    tips = read_cell_artifact(mlflow_client, judged).candidates
    other = [
        replace(
            c,
            text=f"Other {c.sample_index}.",
            candidate_id=content_hash([cell_a, c.sample_index, f"Other {c.sample_index}."]),
        )
        for c in tips
    ]
    earlier = plant_copy(mlflow_client, judged, other, start_time_ms=judged.start_time - 60_000)

    read = stored(mlflow_client, experiment_name)
    assert read.records.run_ids[cell_a] == judged.run_id, "the judged run stands for the cell"
    assert sorted(read.records.pairs, key=_order) == sorted(pairs, key=_order)
    lines = _reconciled(mlflow_client, experiment_name)
    assert mlflow_client.get_run(earlier).tags.get(DUPLICATE_TAG) == judged.run_id, lines
    assert not mlflow_client.get_run(judged.run_id).tags.get(DUPLICATE_TAG)
    after = stored(mlflow_client, experiment_name)
    assert sorted(after.records.pairs, key=_order) == sorted(pairs, key=_order)


def test_a_run_whose_tips_were_judged_as_side_b_stands_for_its_cell(
    mlflow_client, experiment_name, tipbench_home
):
    """As above for the pair's cell B, whose answers are held by cell A's run: a tip counts as
    judged wherever a pair naming it is held."""
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    rubric = found.records.rubric.ref
    cell_b = b[0][1]
    judged = mlflow_client.get_run(found.records.run_ids[cell_b])
    ana = journal_for(found, "ana", tipbench_home)
    pairs = [shown(a[0], b[0], "left", scenario, rubric=rubric)]
    for pair in pairs:
        ana.append_pair(pair)
    sync(mlflow_client, found, ana, tipbench_home)
    tips = read_cell_artifact(mlflow_client, judged).candidates
    other = [
        replace(
            c,
            text=f"Other {c.sample_index}.",
            candidate_id=content_hash([cell_b, c.sample_index, f"Other {c.sample_index}."]),
        )
        for c in tips
    ]
    earlier = plant_copy(mlflow_client, judged, other, start_time_ms=judged.start_time - 60_000)

    read = stored(mlflow_client, experiment_name)
    assert read.records.run_ids[cell_b] == judged.run_id, "the judged run stands for the cell"
    assert read.records.pairs == pairs
    lines = _reconciled(mlflow_client, experiment_name)
    assert mlflow_client.get_run(earlier).tags.get(DUPLICATE_TAG) == judged.run_id, lines
    assert stored(mlflow_client, experiment_name).records.pairs == pairs


# -- 2. pairs of another rubric version ------------------------------------------------------

OLD = RubricRef("tip-v0", "tip-v0", "")


def _plant_pairs(client: MlflowClient, run_id: str, judge: str, pairs: list) -> None:
    """A judge's pairs file on a run, as an older tipbench (or another tool) would have sent it."""
    client.log_artifact(run_id, pairs_artifact(judge_key(judge)), pairs_document(pairs))
    client.set_tag(run_id, PAIRS_TAG, "true")


def test_pairs_of_another_rubric_version_are_left_out_at_load_with_one_warning(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    ana = journal_for(found, "ana", tipbench_home)
    current = shown(a[0], b[0], "left", scenario, rubric=found.records.rubric.ref)
    ana.append_pair(current)
    sync(mlflow_client, found, ana, tipbench_home)
    run_a = found.records.run_ids[a[0][1]]
    old = [
        shown(a[0], b[1], "left", scenario, judge="old", rubric=OLD),
        shown(a[1], b[0], "tie", scenario, judge="old", rubric=OLD),
    ]
    _plant_pairs(mlflow_client, run_a, "old", old)
    newer = RubricRef("tip-v2", "tip-v2", "")
    _plant_pairs(
        mlflow_client, run_a, "new", [shown(a[1], b[1], "right", scenario, "new", rubric=newer)]
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        data = load_experiment(mlflow_client, experiment_name)
    assert data.pairs["judge_id"].to_list() == ["ana"], "pairs on another rubric were counted"
    said = [w for w in data.warnings if "pairwise" in w and "tip-v0" in w]
    assert len(said) == 1, data.warnings
    for words in ("3 pairwise judgment(s)", "tip-v0, tip-v2", "tip-v1", "left out"):
        assert words in said[0], (words, said[0])

    # A snapshot holding such rows (another tool's, or written before this check) is read alike.
    every = pairs_frame([current, *old])
    snapshot = write_snapshot(replace(data, pairs=every), tmp_path / "snap")
    back = read_snapshot(snapshot)
    assert back.pairs["judge_id"].to_list() == ["ana"]
    assert len([w for w in back.warnings if "2 pairwise judgment(s)" in w and "tip-v0" in w]) == 1


def test_pairs_journalled_under_another_rubric_are_refused_not_sent(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=1)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    journal_for(found, "old", tipbench_home).append_pair(
        shown(a[0], b[0], "left", scenario, judge="old", rubric=OLD)
    )
    read, backlog = read_delivered(mlflow_client, experiment_name, tipbench_home)
    assert stored(mlflow_client, experiment_name).records.pairs == [], "sent to MLflow"
    assert backlog.sent == 0 and "tip-v0" in backlog.warning(), backlog.warning()
    assert "'old'" in backlog.warning()


def test_a_pair_file_for_another_rubric_or_question_is_refused_storing_nothing(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    from .test_pair_exchange import _answer, _apply, _export, _journal_and_mlflow

    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    doc = _answer(_export(mlflow_client, experiment_name, tmp_path / "out.json", "--judge-id", "x"))
    capsys.readouterr()
    for change, named in (
        ({"rubric": {**doc["rubric"], "version": "tip-v0"}}, ["'tip-v0'", "'tip-v1'"]),
        ({"question": "relevance"}, ["'relevance'", "'overall'", "--export"]),
    ):
        status = _apply(mlflow_client, experiment_name, tmp_path / "in.json", {**doc, **change})
        err = capsys.readouterr().err
        assert status == EXIT_REFUSED, (change, err)
        assert "nothing was stored" in err
        for words in named:
            assert words in err, (words, err)
        assert _journal_and_mlflow(mlflow_client, experiment_name, tipbench_home) == []


# -- 3. pair judges in the provenance ---------------------------------------------------------


def test_judges_of_pairs_only_are_in_the_provenance_with_their_pair_counts(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    from tipbench_lib.core.records import FAILED, JudgeSource, PairJudgment
    from tipbench_lib.judge.session import JudgeSession

    from .test_judge import tip

    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=2)
    found = stored(mlflow_client, experiment_name)
    ((scenario, (a, b)),) = tips_by_scenario(found).items()
    rubric = found.records.rubric.ref
    ana = JudgeSession(mlflow_client, experiment_name, "ana")  # scores, and one pair
    assert ana.save(a[0][0], tip(4, 4, 4, True, False)).synced
    bo = journal_for(found, "bo", tipbench_home)  # a person judging pairs only
    for left, right, choice in ((a[0], b[0], "left"), (a[1], b[1], "tie"), (b[0], a[1], "left")):
        bo.append_pair(shown(left, right, choice, scenario, judge="bo", rubric=rubric))
    model = JudgeSource("llm", "judge-135m", model="smollm2-135m", parameter_count=135_000_000)
    answered = PairJudgment.shown(
        a[0], b[0], "right", scenario_id=scenario, source=model, rubric=rubric, created_at=T2
    )
    failed = replace(  # both orders asked, no valid answer: kept, never counted
        answered,
        candidate_a=a[1][0],
        candidate_b=b[1][0],
        answer="",
        order_answers={},
        status=FAILED,
        error="no valid answer after 3 tries",
    )
    llm = journal_for(found, "judge-135m", tipbench_home)  # an LLM judge of pairs only
    llm.append_pair(answered)
    llm.append_pair(failed)

    data = load_experiment(mlflow_client, experiment_name)  # sends every journal first
    judges = data.provenance["judges"]
    assert set(judges) == {"ana", "bo", "judge-135m"}, judges
    assert judges["ana"]["ok"] == 1 and judges["ana"]["pairs"] == 0
    assert judges["bo"] | {"ok": 0} == {
        "kind": "human",
        "model": "",
        "weak": False,
        "parameter_count": None,
        "ok": 0,
        "failed": 0,
        "pairs": 3,
        "pairs_failed": 0,
    }
    llm_entry = judges["judge-135m"]
    assert llm_entry["kind"] == "llm" and llm_entry["model"] == "smollm2-135m"
    assert llm_entry["weak"] and llm_entry["parameter_count"] == 135_000_000
    assert (llm_entry["pairs"], llm_entry["pairs_failed"]) == (1, 1)
    # A snapshot keeps them, and reads them back typed.
    back = read_snapshot(write_snapshot(data, tmp_path / "snap"))
    assert back.provenance["judges"] == judges
    from tipbench_lib.core.provenance import Provenance

    typed = Provenance.from_dict(back.provenance).judges["judge-135m"]
    assert (typed.pairs, typed.pairs_failed, typed.weak) == (1, 1, True)
