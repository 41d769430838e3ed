"""The judge library against a real MLflow server: queue, blinding, save/resume/revise, metrics.

Experiments are made through the collect phase's own journal records and syncer, so the runs look
exactly like collected ones (tag, params, ``candidates.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tipbench_lib.backends.base import Generation
from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.journal import CollectState, candidate_record
from tipbench_lib.core.cells import cell_id_from_params, cell_label
from tipbench_lib.core.records import CellRecord, Judgment
from tipbench_lib.core.rubric import Rubric, load_rubric
from tipbench_lib.core.scenarios import load_scenarios
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import PENDING_TAG

TIPS = (
    "Submit your timesheets tonight; it takes 15 minutes and they are due at 9 tomorrow.",
    "Block 25 minutes before lunch for the budget draft; it is due tomorrow.",
    "Take a short walk after your first meeting, then start the report.",
    "Sure! Here's a tip: **drink water** and stay positive today.",
)


OPTIONS = "temperature=0.8,top_p=0.95,max_tokens=96,num_ctx=2048"
"""The generation options of the cells made here (a collect with the default settings)."""


def tip(relevance, actionability, tone, format_ok, overlong, note=""):
    """tip-v1 scores, by name, as the judge app builds them from its widgets."""
    from tipbench_lib.judge.session import Scores

    values = {"relevance": relevance, "actionability": actionability, "tone": tone}
    return Scores({**values, "format_ok": format_ok, "overlong": overlong}, note)


def collected_experiment(
    client: MlflowClient,
    name: str,
    models: Sequence[str] = ("smollm2-135m", "gemma3-270m"),
    prompts: Sequence[str] = ("v1",),
    n_scenarios: int = 2,
    n_tips: int = 3,
    texts: Sequence[str] = TIPS,
    rubric: Rubric | None = None,
    options: str = OPTIONS,
) -> CollectState:
    """Cells and candidates as the collect phase journals them, delivered by its real syncer.

    Cell ids are made as the planner makes them, from the params and the experiment's name, so
    the runs verify as this experiment's cells (docs/architecture.md, section 6).

    With ``rubric`` the experiment records it first, as a collect run does; without one it is an
    experiment collected before rubrics were recorded (read as tip-v1).
    """
    from tipbench_lib.tracking.experiment import record_rubric

    if rubric is not None:
        record_rubric(client, name, rubric)
    scored_on = rubric or load_rubric()
    state = CollectState()
    scenarios = load_scenarios()[:n_scenarios]
    counter = 0
    for model in models:
        for prompt in prompts:
            for scenario in scenarios:
                params = {
                    "model": model,
                    "model_digest": f"sha-{model}",
                    "prompt_version": prompt,
                    "prompt_hash": f"hash-{prompt}",
                    "scenario_id": scenario.id,
                    "scenario_hash": scenario.content_hash,
                    "persona": scenario.persona.id,
                    "time_slot": scenario.time_slot.id,
                    "options": options,
                    "seed": "0",
                    "rubric_version": scored_on.version,
                }
                cell_id = cell_id_from_params(name, params, scenario.content_hash)
                state.cells[cell_id] = CellRecord(
                    cell_id=cell_id,
                    run_name=f"{model} | {prompt} | {scenario.id}",
                    n_tips=n_tips,
                    prompt_text="(test prompt)",
                    params=params,
                )
                for index in range(n_tips):
                    text = f"{texts[counter % len(texts)]}"
                    counter += 1
                    gen = Generation(text, text, 50, 20, 0.4, 50.0, "stop")
                    rec = candidate_record(
                        cell_id, index, index, text, gen, scored_on.auto_checks(text), 1.0
                    )
                    state.candidates.setdefault(cell_id, {})[index] = rec
    experiment_id = client.ensure_experiment(name)
    report = CellSyncer(client, experiment_id).deliver(state)
    assert not report.undelivered, report.error
    return state


# -- the queue ------------------------------------------------------------------------------------


def _rows(counts: dict[str, int]) -> list[dict]:
    return [
        {"candidate_id": f"{model}-{i:03d}", "model": model, "cell_id": f"{model}-cell{i % 4}"}
        for model, n in counts.items()
        for i in range(n)
    ]


def _same_model_neighbours(order: Sequence[dict]) -> int:
    return sum(a["model"] == b["model"] for a, b in zip(order, order[1:], strict=False))


def test_queue_is_seeded_shuffled_and_interleaves_models():
    from tipbench_lib.judge.queue import interleaved_order

    rows = _rows({"smollm2": 12, "gemma3": 12, "qwen": 12})
    order = interleaved_order(rows, seed=7)
    assert sorted(r["candidate_id"] for r in order) == sorted(r["candidate_id"] for r in rows)
    assert _same_model_neighbours(order) == 0
    assert [r["candidate_id"] for r in interleaved_order(list(reversed(rows)), seed=7)] == [
        r["candidate_id"] for r in order
    ], "the same seed gives the same order whatever order the rows came in"
    assert [r["candidate_id"] for r in interleaved_order(rows, seed=8)] != [
        r["candidate_id"] for r in order
    ]
    # Not a round-robin: the model sequence must not repeat with a fixed period.
    models = [r["model"] for r in order]
    assert models[:3] * 12 != models


def test_queue_with_one_dominant_model_has_the_fewest_possible_blocks():
    from tipbench_lib.judge.queue import interleaved_order

    order = interleaved_order(_rows({"big": 10, "small": 4}), seed=3)
    # 10 tips of one model can be split by at most 4 others: 5 same-model neighbours at least.
    assert _same_model_neighbours(order) == 5


# -- sessions against MLflow ----------------------------------------------------------------------


def test_cards_are_blind_by_default_and_the_seed_is_recorded(
    mlflow_client, experiment_name, tipbench_home
):
    from dataclasses import asdict

    from tipbench_lib.judge.journal import judgments_dir
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name)
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    card = session.next_card()
    flat = json.dumps(asdict(card), default=str)
    for hidden in ("smollm2-135m", "gemma3-270m", "sha-smollm2", '"v1"', "prompt_version"):
        assert hidden not in flat
    assert card.revealed == {}
    assert card.scenario.tasks and card.scenario.persona

    open_session = JudgeSession(mlflow_client, experiment_name, "bo", blind=False)
    revealed = open_session.card(card.candidate_id).revealed
    assert (
        revealed["model"] in ("smollm2-135m", "gemma3-270m") and revealed["prompt_version"] == "v1"
    )
    assert open_session.order != session.order, "each judge gets an own shuffle"

    journal = session.journal.path.read_text()
    assert session.journal.path.parent == judgments_dir(experiment_name)
    assert f'"seed":{session.seed}' in journal
    again = JudgeSession(mlflow_client, experiment_name, "ana", seed=12345)
    assert again.seed == session.seed and again.order == session.order


def test_save_resume_revise_and_cell_metrics(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.delivery import judge_artifact_path
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name)
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    first = session.next_card()
    cell = first.cell_id
    result = session.save(first.candidate_id, tip(4, 3, 5, True, False, "good"))
    assert result.synced and result.record.composite == 4 + 3 + 5 + 2 - 0

    resumed = JudgeSession(mlflow_client, experiment_name, "ana")
    assert first.candidate_id not in resumed.queue()
    assert resumed.next_card().candidate_id == session.queue()[0]
    assert resumed.card(first.candidate_id).previous.scores["tone"] == 5

    resumed.save(first.candidate_id, tip(2, 2, 2, False, True))  # revise
    latest = resumed.judged()[first.candidate_id]
    assert (latest.scores["relevance"], latest.scores["format_ok"]) == (2, False)
    assert latest.scores["overlong"] is True
    assert [j.scores["relevance"] for j in resumed.journal.history(first.candidate_id)] == [4, 2]

    run = mlflow_client.get_run(resumed.records.run_ids[cell])
    assert run.metrics["judged_count"] == 1.0
    assert run.metrics["composite_mean"] == 2 + 2 + 2 + 0 - 1
    assert run.metrics["overlong_mean"] == 1.0
    assert run.tags[PENDING_TAG] == "true"
    artifact = json.loads(mlflow_client.download_artifact(run.run_id, judge_artifact_path("ana")))
    assert [r["relevance"] for r in artifact] == [2], "MLflow holds the latest, the journal all"

    for cid in resumed.by_cell[cell]:
        if cid != first.candidate_id:
            resumed.save(cid, tip(5, 5, 5, True, False))
    run = mlflow_client.get_run(run.run_id)
    assert run.tags[PENDING_TAG] == "false"
    assert run.metrics["judged_count"] == 3.0
    assert run.metrics["relevance_mean"] == pytest.approx((2 + 5 + 5) / 3)
    assert resumed.progress().judged == 3
    row = resumed.cells[resumed.candidates[first.candidate_id].cell_id]
    unblind = JudgeSession(mlflow_client, experiment_name, "ana", blind=False)
    labels = {c.cell_id: c.label for c in unblind.progress().cells}
    assert labels[cell] == cell_label(row.model, row.prompt_version, row.scenario_id)
    assert row.model not in " ".join(c.label for c in resumed.progress().cells), "blind"


def test_pending_until_the_required_number_of_judges(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    ana = JudgeSession(mlflow_client, experiment_name, "ana", required_judges=2)
    for cid in ana.order:
        ana.save(cid, tip(4, 4, 4, True, False))
    (cell,) = ana.by_cell
    run_id = ana.records.run_ids[cell]
    assert mlflow_client.get_run(run_id).tags[PENDING_TAG] == "true"
    bo = JudgeSession(mlflow_client, experiment_name, "bo", required_judges=2)
    for cid in bo.order:
        bo.save(cid, tip(2, 2, 2, True, False))
    run = mlflow_client.get_run(run_id)
    assert run.tags[PENDING_TAG] == "false"
    assert run.metrics["relevance_mean"] == 3.0, "the means cover every judge"
    assert run.metrics["judged_count"] == 3.0


def test_an_mlflow_outage_loses_nothing(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.session import JudgeSession
    from tipbench_lib.tracking.server import free_port

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    cid = session.order[0]
    with MlflowClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2) as dead:
        session.client = dead
        result = session.save(cid, tip(3, 4, 5, True, False))
    assert not result.synced and result.sync_error
    assert session.judged()[cid].scores["tone"] == 5, "the journal has it"
    session.client = mlflow_client
    assert session.sync_pending() == ""
    run = mlflow_client.get_run(session.records.run_ids[session.candidates[cid].cell_id])
    assert run.metrics["tone_mean"] == 5.0


def test_judges_whose_ids_shared_a_file_keep_their_own_queue_seed_and_scores(
    mlflow_client, experiment_name, tipbench_home
):
    """``a b``, ``a_b`` and ``a/b`` once shared one journal file and one MLflow artifact."""
    from tipbench_lib.compare.load import load_experiment
    from tipbench_lib.judge.queue import judge_seed
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2)
    first = JudgeSession(mlflow_client, experiment_name, "a b")
    for cid in first.order:
        first.save(cid, tip(4, 4, 4, True, False))
    total = first.total
    for n, judge in enumerate(("a_b", "a/b"), start=1):
        other = JudgeSession(mlflow_client, experiment_name, judge)
        assert other.seed == judge_seed(experiment_name, judge), "its own order, not 'a b''s"
        assert len(other.queue()) == total and other.progress().judged == 0
        assert other.next_card().previous is None
        other.save(other.order[0], tip(1, 1, 1, False, True))
        assert len(other.queue()) == total - 1
        assert len(first.queue()) == 0 and first.progress().judged == total
        scores = load_experiment(mlflow_client, experiment_name).judgments
        per_judge = dict(scores.group_by("judge_id").len().iter_rows())
        assert per_judge["a b"] == total, f"after {judge!r} saved, MLflow lost 'a b''s scores"
        assert per_judge == {"a b": total, **dict.fromkeys(("a_b", "a/b")[:n], 1)}
        mine = scores.filter(scores["judge_id"] == "a b")
        assert set(mine["relevance"].to_list()) == {4}, "no score of another judge under 'a b'"


def test_a_last_score_without_its_newline_survives_the_next_save_and_reaches_mlflow(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    first, second = session.order[:2]
    session.save(first, tip(5, 5, 5, True, False))
    path = session.journal.path
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # e.g. a copy that dropped the newline
    assert first in session.done_ids(), "the reader counts the newline-less record"
    session.save(second, tip(2, 2, 2, True, False))
    assert {first, second} <= session.done_ids(), "the next save must not delete it"
    cell = session.candidates[first].cell_id
    run = mlflow_client.get_run(session.records.run_ids[cell])
    assert run.metrics["judged_count"] == 2.0
    assert run.metrics["relevance_mean"] == (5 + 2) / 2


def test_a_record_of_another_judge_in_a_judge_file_is_never_counted(tipbench_home):
    from tipbench_lib.core.journal import Journal, JournalWarning
    from tipbench_lib.judge.journal import QUEUE, JudgeJournal, local_judgments

    parts = load_rubric().part_ids
    journal = JudgeJournal("exp", "a b", parts)
    base = {"type": "judgment", "cell_id": "c", "status": "ok", "relevance": 4}
    lines = Journal(journal.path)
    lines.append({**base, "candidate_id": "x", "judge_id": "a b", "created_at": "2025-01-01"})
    # a hand copy of another judge's lines into this file
    lines.append({"type": QUEUE, "judge_id": "a_b", "seed": 5})
    lines.append({**base, "candidate_id": "y", "judge_id": "a_b", "created_at": "2025-01-02"})
    with pytest.warns(JournalWarning, match="2 of 'a_b'"):
        assert set(journal.latest()) == {"x"}
    with pytest.warns(JournalWarning):
        assert journal.queue_seed(42) == 42, "another judge's seed is not this judge's order"
    with pytest.warns(JournalWarning, match="does not match the file name"):
        assert [j.candidate_id for j in local_judgments("exp", parts)] == ["x"]


def test_empty_judge_id_and_bad_scores_are_refused(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.core.errors import JudgingError
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    with pytest.raises(JudgingError, match="judge id"):
        JudgeSession(mlflow_client, experiment_name, "  ")
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    with pytest.raises(JudgingError, match="relevance must be an integer from 1 to 5"):
        session.save(session.order[0], tip(6, 3, 3, True, False))
    assert session.judged() == {}


# -- agreement and metrics without MLflow ---------------------------------------------------------


def test_agreement_matches_krippendorffs_published_example():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders x 12 units:
    ordinal alpha 0.815."""
    from tipbench_lib.judge.session import agreement

    nan = None
    table = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        "C": [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    }
    records = [
        {
            "candidate_id": f"u{unit}",
            "judge_id": judge,
            "judge_kind": "human",
            "rubric_version": "tip-v1",
            "relevance": v,
            "actionability": v,
            "tone": v,
            "format_ok": True,
            "overlong": False,
            "composite": float(3 * v + 2),
            "created_at": "2025-01-01T00:00:00+00:00",
            "status": "ok",
        }
        for judge, values in table.items()
        for unit, v in enumerate(values)
        if v is not None
    ]
    rubric = load_rubric()
    result = agreement([Judgment.from_json(r, rubric.part_ids) for r in records], rubric)
    alphas = dict(zip(result["dimension"], result["alpha"], strict=True))
    assert alphas["relevance"] == pytest.approx(0.815, abs=5e-4)
    assert alphas["tone"] == pytest.approx(0.815, abs=5e-4)


def test_failed_llm_judgments_never_count_and_latest_wins():
    from tipbench_lib.judge.delivery import cell_summary

    base = {"judge_kind": "human", "format_ok": True, "overlong": False, "status": "ok"}
    records = [
        {
            **base,
            "candidate_id": "a",
            "judge_id": "ana",
            "relevance": 1,
            "actionability": 1,
            "tone": 1,
            "composite": 5.0,
            "created_at": "2025-01-01T00:00:00+00:00",
        },
        {
            **base,
            "candidate_id": "a",
            "judge_id": "ana",
            "relevance": 5,
            "actionability": 5,
            "tone": 5,
            "composite": 17.0,
            "created_at": "2025-01-02T00:00:00+00:00",
        },
        {
            "candidate_id": "b",
            "judge_id": "llm:x",
            "judge_kind": "llm",
            "status": "failed",
            "relevance": None,
            "actionability": None,
            "tone": None,
            "composite": None,
            "format_ok": None,
            "overlong": None,
            "created_at": "2025-01-03T00:00:00+00:00",
        },
    ]
    parts = load_rubric().part_ids
    judgments = [Judgment.from_json({"cell_id": "c", **r}, parts) for r in records]
    metrics, pending = cell_summary(["a", "b"], judgments, 1, parts)
    assert metrics["judged_count"] == 1.0
    assert metrics["composite_mean"] == 17.0
    assert pending, "b has only a failed judgment"


def test_a_cell_runs_metrics_are_rounded_for_mlflows_runs_table():
    """Issue 22: MLflow showed the cell runs' means as 4.333333333333333."""
    from tipbench_lib.judge.delivery import cell_summary

    parts = load_rubric().part_ids
    judgments = [
        Judgment.from_json(
            {
                "cell_id": "c",
                "candidate_id": c,
                "judge_id": "ana",
                "relevance": r,
                "actionability": 4,
                "tone": 4,
                "format_ok": True,
                "overlong": False,
                "composite": 12.0 + r,
                "created_at": "2025-01-02T00:00:00+00:00",
            },
            parts,
        )
        for c, r in (("a", 4), ("b", 4), ("d", 5))
    ]
    metrics, _ = cell_summary(["a", "b", "d"], judgments, 1, parts)
    assert metrics["relevance_mean"] == 4.3333
    assert metrics["composite_mean"] == 16.3333
