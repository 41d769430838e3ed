"""Pairwise judgments where they meet the rest of the store (docs/architecture.md, sections 5, 6,
13), against a real MLflow server: a cell's duplicate runs reconciled with the pairs they hold,
pairs of another rubric version left out at load and refused at apply, and pair-only judges in
the experiment's provenance."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

from tipbench_lib.collect.reconcile import reconcile
from tipbench_lib.core.hashing import content_hash
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
