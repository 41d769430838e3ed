"""Journals of the first layout (folder and file named by a slug only) keep working.

The old files are written here by hand, line for line as the first layout's code wrote them: no
``experiment`` field, folder ``journal/<slug>``, judge file ``judgments/<slug>.jsonl``. Two names
that shared such a folder are split by what each record proves: a cell id hashes its experiment's
name, a judgment carries its judge id and points at a cell.
"""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tipbench_lib.backends.base import Generation, GenerationOptions, ModelInfo
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.collect.journal import CollectJournal, candidate_record
from tipbench_lib.collect.plan import CollectConfig, PlannedCell, plan_cells
from tipbench_lib.core.journal import JournalWarning, legacy_experiment_dir, legacy_slug
from tipbench_lib.core.journal_legacy import cell_id_from_params
from tipbench_lib.core.prompts import get_prompt
from tipbench_lib.core.rubric import load_rubric
from tipbench_lib.core.scenarios import select_scenarios
from tipbench_lib.tracking.mapping import CELL_TAG, read_cell_artifact

from .ollama_standin import FakeModel, OllamaStandIn
from .test_judge import collected_experiment, tip

MODELS = [FakeModel("tiny-a", 1_000_000_000, texts=("Start the budget draft at 9 sharp.",))]
N_TIPS = 2
OLD_TEXT = "Written before the upgrade: answer the two urgent emails first."


def write_old_journal(path: Path, records: list[dict]) -> bytes:
    """A journal as the first layout's code wrote it: compact JSON lines, no experiment field."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in records
    )
    path.write_bytes(data)
    return data


NEW_KEYS = ("format", "rubric_name", "rubric_hash")
"""Keys records gained with format 2: the first layout's records never had them."""


def old_form(record: dict) -> dict:
    """A record as the first layout's code wrote it (format 1)."""
    return {k: v for k, v in record.items() if k not in NEW_KEYS}


def old_cell_records(cell: PlannedCell, backend_version: str, indices: range) -> list[dict]:
    rubric = load_rubric()
    records = [{"type": "cell", **asdict(cell.record(backend_version, rubric.version))}]
    for index in indices:
        gen = Generation(OLD_TEXT, OLD_TEXT, 40, 12, 0.3, 40.0, "stop")
        checks = rubric.auto_checks(OLD_TEXT)
        rec = candidate_record(cell.cell_id, index, cell.seed(index), OLD_TEXT, gen, checks, 0.5)
        records.append({"type": "candidate", **old_form(rec.to_json())})
    return records


def request(experiment: str) -> CollectRequest:
    return CollectRequest(
        experiment=experiment,
        models=("tiny-a",),
        prompts=("v1",),
        scenarios="2",
        n_tips=N_TIPS,
        options=GenerationOptions(max_tokens=16, timeout_s=10),
    )


def test_recomputed_cell_ids_match_the_collectors():
    models = [ModelInfo("m1", "ollama", 10**9, digest="d1"), ModelInfo("m2", "llama", 10**9)]
    config = CollectConfig(
        experiment="a b",
        models=("m1", "m2"),
        prompts=(get_prompt("v1"), get_prompt("v2-mentor")),
        scenarios=tuple(select_scenarios(3)),
        options=GenerationOptions(temperature=0.3, num_ctx=4096),
        seed=7,
    )
    cells = plan_cells(config, models)
    for cell in cells:
        params = cell.record("0.9", "tip-v1").params
        assert cell_id_from_params("a b", params, cell.scenario.content_hash) == cell.cell_id
        assert cell_id_from_params("a_b", params, cell.scenario.content_hash) != cell.cell_id


def test_an_old_folder_shared_by_two_experiments_is_split_by_what_each_cell_proves(
    mlflow_client, tipbench_home
):
    tag = uuid.uuid4().hex[:8]
    first, second = f"a b-{tag}", f"a_b-{tag}"
    old_dir = legacy_experiment_dir(first)
    assert old_dir == legacy_experiment_dir(second) == tipbench_home / "journal" / f"a_b-{tag}"
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.002) as standin:
        backend = OllamaBackend(standin.url)
        try:
            version = backend.version()
            prepared = {n: prepare(request(n), backend, mlflow_client) for n in (first, second)}
            planned = {n: plan_cells(p.config, p.models) for n, p in prepared.items()}
            records: list[dict] = []
            partial = planned[first][0]
            records += old_cell_records(partial, version, range(1))  # stopped after one tip
            records += old_cell_records(planned[first][1], version, range(N_TIPS))
            for cell in planned[second]:
                records += old_cell_records(cell, version, range(N_TIPS))
            # A cell made from a scenario that was edited since: its id can no longer be proven.
            params = planned[first][1].record(version, "tip-v1").params
            edited = replace(
                planned[first][1], cell_id=cell_id_from_params(first, params, "hash-before-edit")
            )
            records += old_cell_records(edited, version, range(1))
            old_bytes = write_old_journal(old_dir / "collect.jsonl", records)

            with pytest.warns(JournalWarning, match=r"holds 3 cell\(s\) that are not 'a b-"):
                summary = run_prepared(prepared[first], backend, mlflow_client)
            assert summary.exit_code == 0, summary.lines()
            assert summary.finished == [partial.cell_id], "only the partial cell had work left"
            assert len(standin.generation_requests()) == 1, "only its missing tip was generated"

            with pytest.warns(JournalWarning, match=r"holds 3 cell\(s\) that are not 'a_b-"):
                summary = run_prepared(prepared[second], backend, mlflow_client)
            assert summary.exit_code == 0 and not summary.finished, summary.lines()
            assert len(standin.generation_requests()) == 1

            with warnings.catch_warnings():
                warnings.simplefilter("error", JournalWarning)  # adopted once, then quiet
                again = run_prepared(prepared[first], backend, mlflow_client)
            assert len(again.skipped) == 2 and not again.finished
        finally:
            backend.close()

    for name in (first, second):
        exp = mlflow_client.get_experiment_by_name(name)
        runs = mlflow_client.search_runs([exp.experiment_id])
        assert sorted(r.tags[CELL_TAG] for r in runs) == sorted(c.cell_id for c in planned[name])
        assert {r.status for r in runs} == {"FINISHED"}
    run = next(r for r in runs if r.tags[CELL_TAG] == planned[second][0].cell_id)
    candidates = read_cell_artifact(mlflow_client, run).candidates
    assert [c.text for c in candidates] == [OLD_TEXT] * N_TIPS, "the old tips were delivered"
    raw = json.loads(mlflow_client.download_artifact(run.run_id, "candidates.json"))
    assert not {"experiment", "type"} & set(raw["candidates"][0]), "candidates keep their shape"
    assert (old_dir / "collect.jsonl").read_bytes() == old_bytes, "the old file is left as it was"
    new_records = list(CollectJournal(first).journal.records())
    assert new_records[0]["type"] == "adopted" and new_records[0]["cells_left"] == 3
    assert {r["experiment"] for r in new_records} == {first}


def test_a_name_that_only_shares_the_old_folder_takes_nothing_from_it(tipbench_home):
    """``実験`` and ``テスト`` both had the fallback folder ``experiment`` in the old layout."""
    cell = {"type": "cell", "cell_id": "c0", "run_name": "x", "n_tips": 1, "prompt_text": "p"}
    write_old_journal(
        legacy_experiment_dir("実験") / "collect.jsonl", [{**cell, "params": {"model": "m"}}]
    )
    assert legacy_slug("実験", "experiment") == legacy_slug("テスト", "experiment")
    with pytest.warns(JournalWarning, match="holds 1 cell"):
        assert CollectJournal("テスト").state().cells == {}


def test_old_judge_files_are_adopted_per_exact_judge_and_experiment(mlflow_client, tipbench_home):
    from tipbench_lib.core.records import JudgeSource
    from tipbench_lib.judge.delivery import judge_artifact_path
    from tipbench_lib.judge.journal import local_judgments
    from tipbench_lib.judge.session import JudgeSession, judgment_record

    tag = uuid.uuid4().hex[:8]
    first, second = f"a b-{tag}", f"a_b-{tag}"
    rubric = load_rubric()
    state = {
        name: collected_experiment(mlflow_client, name, models=("smollm2-135m",), n_scenarios=2)
        for name in (first, second)
    }
    rows = {
        name: [c for cell in s.candidates.values() for c in cell.values()]
        for name, s in state.items()
    }
    by_id = {c.candidate_id: c for name in rows for c in rows[name]}

    def old(judge: str, candidate, score: int, at: str) -> dict:
        scores = tip(score, score, score, True, False)
        rec = judgment_record(candidate, JudgeSource("human", judge), rubric, scores)
        return {**old_form(rec.to_json()), "created_at": at}

    records = [
        {
            "type": "queue",
            "judge_id": "a b",
            "seed": 777,
            "created_at": "2025-01-01T00:00:00+00:00",
        },
        {
            "type": "queue",
            "judge_id": "a_b",
            "seed": 888,
            "created_at": "2025-01-01T00:00:01+00:00",
        },
        *(old("a b", c, 5, "2025-01-02T00:00:00+00:00") for c in rows[first][:4]),
        *(old("a_b", c, 1, "2025-01-02T00:00:01+00:00") for c in rows[first][:2]),
        *(old("a b", c, 3, "2025-01-02T00:00:02+00:00") for c in rows[second][:3]),
        old("a b", rows[first][0], 2, "2025-01-03T00:00:00+00:00"),  # a revision
    ]
    old_file = legacy_experiment_dir(first) / "judgments" / "a_b.jsonl"
    old_bytes = write_old_journal(old_file, records)

    with pytest.warns(JournalWarning, match=r"holds 3 judgment\(s\) of cells that are not in"):
        ab = JudgeSession(mlflow_client, first, "a b")
    assert ab.seed == 777, "the order the judge was working through is kept"
    assert ab.done_ids() == {c.candidate_id for c in rows[first][:4]}
    assert ab.judged()[rows[first][0].candidate_id].scores["relevance"] == 2, "revision counts"
    with warnings.catch_warnings():
        warnings.simplefilter("error", JournalWarning)
        a_b = JudgeSession(mlflow_client, first, "a_b")
    assert a_b.seed == 888
    assert a_b.done_ids() == {c.candidate_id for c in rows[first][:2]}
    assert {j.scores["relevance"] for j in a_b.judged().values()} == {1}
    local = local_judgments(first, rubric.part_ids)
    assert {by_id[j.candidate_id].cell_id for j in local} <= set(ab.by_cell)

    fifth = rows[first][4]
    ab.save(fifth.candidate_id, tip(4, 4, 4, True, False))
    run_id = ab.records.run_ids[fifth.cell_id]
    uploaded = json.loads(mlflow_client.download_artifact(run_id, judge_artifact_path("a b")))
    mine = {c.candidate_id for c in rows[first][:5] if c.cell_id == fifth.cell_id}
    assert {r["candidate_id"] for r in uploaded} == mine, "adopted scores reach MLflow too"
    assert {r["judge_id"] for r in uploaded} == {"a b"}

    with pytest.warns(JournalWarning, match=r"holds 7 judgment\(s\)"):
        other = JudgeSession(mlflow_client, second, "a b")
    assert other.done_ids() == {c.candidate_id for c in rows[second][:3]}
    assert old_file.read_bytes() == old_bytes
