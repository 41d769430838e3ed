"""The LLM judge through the Ollama stand-in: valid answers become scores, invalid ones failures."""

from __future__ import annotations

import json

import pytest

from tipbench_lib.core.errors import (  # noqa: E402
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
)
from tipbench_lib.core.records import Candidate
from tipbench_lib.core.rubric import load_rubric
from tipbench_lib.judge.cli import main  # noqa: E402

from .ollama_standin import FakeModel, Fault, OllamaStandIn
from .test_judge import collected_experiment  # noqa: E402

VALID = json.dumps(
    {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": True, "overlong": False}
)
MODELS = [
    FakeModel("gen-small", 135_000_000),
    FakeModel("judge-ok", 1_000_000_000, json_text=VALID),
    FakeModel("judge-broken", 1_000_000_000, json_text='{"relevance": 4, "actionability": '),
    FakeModel("judge-wild", 1_000_000_000, json_text=VALID.replace('"tone": 5', '"tone": 9')),
    FakeModel("judge-huge", 8_000_000_000, json_text=VALID),
]


@pytest.fixture
def standin(monkeypatch):
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.0) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        yield server


def _run(client, experiment, model, *extra):
    return main(
        ["--experiment", experiment, "--llm-judge", model, "--backend", "ollama", *extra],
        client=client,
    )


def _llm_records(client, experiment, judge_id):
    from tipbench_lib.compare.load import load_experiment
    from tipbench_lib.judge.delivery import judge_artifact_path

    data = load_experiment(client, experiment)
    records = []
    for run_id in data.run_ids.values():
        records += json.loads(client.download_artifact(run_id, judge_artifact_path(judge_id)))
    return data, records


@pytest.mark.parametrize("model", ["judge-broken", "judge-wild"])
def test_invalid_answers_are_retried_then_recorded_failed(
    standin, mlflow_client, experiment_name, tipbench_home, model
):
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    assert _run(mlflow_client, experiment_name, model) == EXIT_FAILED

    data, records = _llm_records(mlflow_client, experiment_name, f"llm:{model}")
    assert len(records) == 3
    for rec in records:
        assert rec["status"] == "failed" and rec["judge_kind"] == "llm"
        assert rec["model"] == model and rec["attempts"] == 3 and rec["error"]
        assert rec.get("relevance") is None and rec["composite"] is None
    assert data.judgments.height == 0, "a failed judgment is never a score"
    run = mlflow_client.get_run(next(iter(data.run_ids.values())))
    assert run.metrics["judged_count"] == 0.0 and "composite_mean" not in run.metrics
    assert run.tags["tipbench.judge_pending"] == "true"
    asked = standin.generation_requests()
    assert len(asked) == 9, "one try and two retries per candidate"
    assert all(
        body["format"]["required"]
        == ["relevance", "actionability", "tone", "format_ok", "overlong", "reason"]
        for body in asked
    )
    assert len({body["options"]["seed"] for body in asked}) == 9, "each retry draws anew"


def test_valid_answers_become_llm_scores_with_one_resident_model(
    standin, mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.backends.base import GenerationOptions
    from tipbench_lib.backends.ollama import OllamaBackend

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    generation = OllamaBackend(host=standin.url)
    generation.load("gen-small", GenerationOptions())  # a generation model is still resident
    assert _run(mlflow_client, experiment_name, "judge-ok") == EXIT_OK

    data, records = _llm_records(mlflow_client, experiment_name, "llm:judge-ok")
    assert {r["status"] for r in records} == {"ok"} and len(records) == 3
    assert records[0]["digest"] and records[0]["model"] == "judge-ok"
    assert set(data.judgments["judge_id"]) == {"llm:judge-ok"}
    assert set(data.judgments["judge_kind"]) == {"llm"}
    assert data.judgments["composite"].to_list() == [14.0] * 3
    assert standin.max_resident == 1
    unload_gen = standin.unloads("gen-small")[0].t
    assert unload_gen <= standin.loads("judge-ok")[0].t, "the judge loads after generation left"
    assert standin.resident() == []
    # Resuming scores nothing twice.
    assert _run(mlflow_client, experiment_name, "judge-ok") == EXIT_OK
    assert standin.load_count("judge-ok") == 2 and len(standin.generation_requests()) == 3


def test_ollama_going_away_mid_run_interrupts_and_a_rerun_resumes(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    """An outage is not a refusal (2) and fails no judgment: exit 3, and the rerun finishes."""
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    standin.set_fault("judge-ok", Fault("crash", after_chunks=1, times=1))
    assert _run(mlflow_client, experiment_name, "judge-ok") == EXIT_INTERRUPTED
    out, err = capsys.readouterr()
    assert "refused" not in err and "Traceback" not in err, err
    assert "0 failed" in out and "run the same command again" in out, out
    assert "ollama serve" in out, "the summary says why it stopped"

    standin.start()  # Ollama restarted on the same port
    assert _run(mlflow_client, experiment_name, "judge-ok") == EXIT_OK
    data, records = _llm_records(mlflow_client, experiment_name, "llm:judge-ok")
    assert {r["status"] for r in records} == {"ok"} and len(records) == 3
    assert data.judgments.height == 3


def test_a_judge_model_above_the_limit_is_refused_before_loading(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    assert _run(mlflow_client, experiment_name, "judge-huge") == EXIT_REFUSED
    assert "above the --max-model-b limit" in capsys.readouterr().err
    assert standin.loads("judge-huge") == []


def test_parse_answer_names_the_problem():
    from tipbench_lib.core.errors import JudgingError
    from tipbench_lib.judge.llm import parse_answer

    rubric = load_rubric()
    candidate = Candidate(
        "c1", "cell", 0, "tip", 1.0, 10, 10.0, auto={"format_ok": False, "overlong": True}
    )
    scores = parse_answer('{"relevance": 2, "actionability": 3.0, "tone": 4}', candidate, rubric)
    assert scores.values == {
        "relevance": 2,
        "actionability": 3,
        "tone": 4,
        "format_ok": False,
        "overlong": True,
    }, "whole floats count, and flags left out come from the automatic checks"
    with pytest.raises(JudgingError, match="not valid JSON"):
        parse_answer('{"relevance": ', candidate, rubric)
    with pytest.raises(JudgingError, match="tone must be an integer from 1 to 5"):
        parse_answer('{"relevance": 2, "actionability": 3, "tone": "good"}', candidate, rubric)


# --- the embedded judge's cost per tip (issue 20) ------------------------------------------------


@pytest.mark.slow
def test_a_cells_tips_are_judged_with_one_rubric_and_scenario_evaluation(tipbench_home):
    """The K tips of a cell share the rubric and the scenario: those are evaluated once, and each
    tip costs its own tokens and the scores only. The next cell evaluates its scenario, not the
    rubric again."""
    from tipbench_lib.backends.embedded import EmbeddedBackend
    from tipbench_lib.core.scenarios import ScenarioView, Task
    from tipbench_lib.judge import llm as llm_judge

    from .test_embedded_backend import PromptEvaluations, nurse_morning

    rubric = load_rubric()
    first_view = nurse_morning()
    other_view = ScenarioView(
        "teacher-evening",
        "Jo",
        "secondary school teacher",
        "evening",
        "6-10 pm",
        (Task("Grade essays", "high", 60, "tomorrow"), Task("Call the landlord", "low", 10, "")),
    )
    tips = [
        "Finish the quiz before you sleep; it is due tomorrow.",
        "Drink water.",
        "Call the landlord now; it takes ten minutes.",
    ]
    options = llm_judge.JUDGE_OPTIONS
    with EmbeddedBackend() as backend:
        backend.load("smollm2-135m", options)
        info = backend.describe("smollm2-135m")
        llm = backend._resident.llm
        counter = PromptEvaluations(llm)

        def judged(view, tip):
            request = llm_judge.judge_request(info, rubric, view, tip, 7, options)
            gen = backend.generate("smollm2-135m", request)
            tip_tokens = len(llm.tokenize(tip.encode(), add_bos=False))
            return gen.prompt_tokens, counter.prompt_positions(gen.prompt_tokens), tip_tokens

        prompt, evaluated, _ = judged(first_view, tips[0])
        assert evaluated == prompt, "the first judgment evaluates its whole prompt"
        for tip in tips[1:]:
            prompt, evaluated, tip_tokens = judged(first_view, tip)
            # The tip, the few words around it and the chat template's turn markers.
            assert evaluated <= tip_tokens + 30, (tip, prompt, evaluated)
        rubric_tokens = len(llm.tokenize(llm_judge.judge_instructions(rubric).encode()))
        prompt, evaluated, tip_tokens = judged(other_view, tips[0])
        assert evaluated <= prompt - rubric_tokens, "the rubric is reused across cells"
