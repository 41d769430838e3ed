"""The LLM judge of pairs (docs/architecture.md, section 13): both orders, the both-orders rule,
failures recorded as failed, resuming, and the judge's position bias; through the Ollama stand-in
and the real embedded model."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tipbench_lib.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED
from tipbench_lib.core.records import PairJudgment, pair_id
from tipbench_lib.judge.cli import main
from tipbench_lib.judge.journal import JudgeJournal
from tipbench_lib.judge.llm_pairs import (
    PAIR_SCHEMA,
    both_orders,
    in_pair_terms,
    order_effect,
    pair_plan,
    parse_choice,
)

from .ollama_standin import FakeModel, Fault, OllamaStandIn
from .test_judge import TIPS, collected_experiment

TIP_BLOCK = re.compile(r"(LEFT|RIGHT) tip \(verbatim\):\n<<<\n(.*?)\n>>>", re.S)


def shown_tips(body: dict[str, Any]) -> dict[str, str]:
    """{"LEFT": tip, "RIGHT": tip} as a request showed them."""
    text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    return dict(TIP_BLOCK.findall(text))


def prefers_longer(body: dict[str, Any]) -> str:
    """A judge that looks at the tips, not their sides: the longer tip is better."""
    tips = shown_tips(body)
    better = "left" if len(tips["LEFT"]) > len(tips["RIGHT"]) else "right"
    return json.dumps({"better": better, "reason": "more specific"})


ALWAYS_LEFT = json.dumps({"better": "left", "reason": "the first one reads better"})
MODELS = [
    FakeModel("pair-content", 1_000_000_000, answer=prefers_longer),
    FakeModel("pair-left", 1_000_000_000, json_text=ALWAYS_LEFT),
    FakeModel("pair-broken", 1_000_000_000, json_text='{"better": "middle", "reason": "x"}'),
]
CELL_MODELS = ("m-one", "m-two", "m-three")
# Twelve tips of distinct lengths (one per candidate of the largest experiment here), so "the
# longer tip" is always one of the two, whatever pairs the experiment's seed draws.
LENGTHS = tuple(f"{TIPS[i % len(TIPS)]}{' Really.' * i}" for i in range(12))


@pytest.fixture
def standin(monkeypatch):
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.0) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        yield server


def _experiment(client, name, models=CELL_MODELS, n_scenarios=2):
    return collected_experiment(
        client, name, models=models, n_scenarios=n_scenarios, n_tips=2, texts=LENGTHS
    )


def _run(client, experiment, model, *extra):
    argv = ["--experiment", experiment, "--llm-judge", model, "--backend", "ollama"]
    return main([*argv, "--mode", "pairwise", *extra], client=client)


def _journalled(experiment, judge_id, home=None) -> list[PairJudgment]:
    return JudgeJournal(experiment, judge_id, (), home).pairs()


def _in_mlflow(client, experiment, judge_id) -> dict[str, PairJudgment]:
    """pair_id → the judge's pair as MLflow holds it, read back verified (cell A's run)."""
    from tipbench_lib.tracking.experiment import read_experiment

    stored = read_experiment(client, experiment).records.pairs
    return {p.pair_id: p for p in stored if p.judge_id == judge_id}


def test_each_pair_is_asked_in_both_orders_and_a_content_judge_gives_wins(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    """Every scenario × every two of its cells: one tip pair, shown A-left then B-left, with
    the pair schema as Ollama's ``format``; a judge that reads the tips agrees with itself."""
    _experiment(mlflow_client, experiment_name)
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_OK
    out = capsys.readouterr().out

    pairs = _journalled(experiment_name, "llm:pair-content")
    assert len(pairs) == 2 * 3, "two scenarios × three pairs of cells"
    assert Counter((p.scenario_id, p.cell_a, p.cell_b) for p in pairs).most_common(1)[0][1] == 1
    asked = standin.generation_requests()
    assert len(asked) == 2 * len(pairs), "each pair in both orders"
    assert all(body["format"] == PAIR_SCHEMA for body in asked)
    for first, second in zip(asked[::2], asked[1::2], strict=True):
        a, b = shown_tips(first), shown_tips(second)
        assert (a["LEFT"], a["RIGHT"]) == (b["RIGHT"], b["LEFT"]), "the second order swaps sides"
    for pair in pairs:
        assert pair.ok and pair.source.kind == "llm" and pair.source.model == "pair-content"
        assert pair.source.digest and pair.attempts == 2
        assert set(pair.order_answers) == {"a", "b"}
        assert pair.answer in ("a", "b") and set(pair.order_answers.values()) == {pair.answer}
    assert "orders disagreed on 0 of 6 pair(s)" in out, out
    assert _in_mlflow(mlflow_client, experiment_name, "llm:pair-content") == {
        p.pair_id: p for p in pairs
    }, "journal first, then each pair on its cell A's run"


def test_a_judge_that_always_answers_left_gives_only_ties(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    """The both-orders rule removes a pure position bias: every pair a tie; the bias is shown
    (the left side won every decided showing)."""
    _experiment(mlflow_client, experiment_name)
    assert _run(mlflow_client, experiment_name, "pair-left") == EXIT_OK
    out = capsys.readouterr().out

    pairs = _journalled(experiment_name, "llm:pair-left")
    assert len(pairs) == 6
    assert {p.answer for p in pairs} == {"tie"}
    assert all(p.order_answers == {"a": "a", "b": "b"} for p in pairs)
    effect = order_effect(pairs)
    assert (effect.n_left, effect.n_right, effect.n_ties) == (12, 0, 0)
    assert effect.share_left == 1.0 and effect.share_left_lo < 1.0
    assert effect.disagreed == 6 and effect.same_side == 6
    assert "share_left 1.00" in out and "orders disagreed on 6 of 6 pair(s)" in out, out
    assert "counted them as ties" in out
    stored = _in_mlflow(mlflow_client, experiment_name, "llm:pair-left")
    assert {p.answer for p in stored.values()} == {"tie"} and len(stored) == 6


def test_an_answer_off_the_schema_is_retried_then_recorded_failed(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    _experiment(mlflow_client, experiment_name, models=CELL_MODELS[:2], n_scenarios=1)
    assert _run(mlflow_client, experiment_name, "pair-broken") == EXIT_FAILED
    (pair,) = _journalled(experiment_name, "llm:pair-broken")
    assert pair.status == "failed" and pair.answer == "" and pair.order_answers == {}
    assert pair.attempts == 3 and "better must be one of left, right, tie" in pair.error
    asked = standin.generation_requests()
    assert len(asked) == 3, "one try and two retries; the second order is not asked"
    assert len({body["options"]["seed"] for body in asked}) == 3, "each retry draws anew"
    assert "1 failed" in capsys.readouterr().out


def test_an_error_line_in_the_stream_is_a_failed_pair_and_a_rerun_asks_again(
    standin, mlflow_client, experiment_name, tipbench_home
):
    """Ollama's ``{"error": ...}`` line after status 200 is a failed generation: retried, then
    the pair recorded failed with that error; a failed pair stays open for the next run."""
    _experiment(mlflow_client, experiment_name, models=CELL_MODELS[:2], n_scenarios=1)
    standin.set_fault("pair-content", Fault("stream_error", after_chunks=1))
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_FAILED
    (failed,) = _journalled(experiment_name, "llm:pair-content")
    assert failed.status == "failed" and not failed.order_answers
    assert "unexpected EOF" in failed.error and failed.attempts == 3

    standin.set_fault("pair-content", None)
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_OK
    failed_again, answered = _journalled(experiment_name, "llm:pair-content")
    assert failed_again == failed and answered.ok and answered.pair_id == failed.pair_id


def test_an_interrupted_run_resumes_without_judging_a_pair_twice(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    """The connection cut on the 5th request (3rd pair): exit 3, two pairs kept; the rerun
    judges the four left, and no pair is journalled twice."""
    _experiment(mlflow_client, experiment_name)
    seen = {"chat": 0}

    def cut_fifth(path: str, body: Any) -> str | None:
        if path == "/api/chat" and body.get("messages"):
            seen["chat"] += 1
            return "cut" if seen["chat"] == 5 else None
        return None

    standin.on_request = cut_fifth
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_INTERRUPTED
    out = capsys.readouterr().out
    assert "4 pair(s) interrupted, none of them failed" in out, out
    first = _journalled(experiment_name, "llm:pair-content")
    assert len(first) == 2 and all(p.ok for p in first)

    standin.on_request = None
    before = len(standin.generation_requests())
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_OK
    assert "2 judged before (of 6 planned" in capsys.readouterr().out
    assert len(standin.generation_requests()) - before == 4 * 2
    pairs = _journalled(experiment_name, "llm:pair-content")
    assert len(pairs) == 6 and len({p.pair_id for p in pairs}) == 6
    assert _run(mlflow_client, experiment_name, "pair-content") == EXIT_OK
    assert len(_journalled(experiment_name, "llm:pair-content")) == 6, "nothing left to judge"
    assert len(_in_mlflow(mlflow_client, experiment_name, "llm:pair-content")) == 6


def test_pairs_per_cell_is_refused_outside_the_pairwise_llm_judge(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    argv = ["--experiment", experiment_name, "--llm-judge", "pair-left", "--backend", "ollama"]
    assert main([*argv, "--pairs-per-cell", "2"], client=mlflow_client) == EXIT_REFUSED
    assert "--mode pairwise" in capsys.readouterr().err
    assert main([*argv, "--mode", "pairwise", "--pairs-per-cell", "0"]) == EXIT_REFUSED
    assert standin.generation_requests() == []


def test_an_experiment_with_one_cell_per_scenario_is_refused_before_the_model_loads(
    standin, mlflow_client, experiment_name, tipbench_home, capsys
):
    _experiment(mlflow_client, experiment_name, models=CELL_MODELS[:1])
    assert _run(mlflow_client, experiment_name, "pair-left") == EXIT_REFUSED
    assert "one cell per scenario" in capsys.readouterr().err
    assert standin.loads("pair-left") == [] and standin.generation_requests() == []
    assert _journalled(experiment_name, "llm:pair-left") == []


def test_the_embedded_grammar_keeps_raw_control_characters_out_of_json_strings():
    """llama-cpp-python's converter lets a JSON string hold a raw line break, which JSON (and
    ``json.loads``) refuses; the embedded backend's grammar uses llama.cpp's own string rule. An
    upgrade that writes the rule differently fails here rather than in a judge's answers."""
    from llama_cpp import LlamaGrammar

    from tipbench_lib.backends.embedded import STRICT_JSON_CHAR, json_grammar

    grammar = json_grammar(PAIR_SCHEMA)
    assert STRICT_JSON_CHAR in grammar and 'char ::= [^"\\\\] ' not in grammar
    LlamaGrammar.from_string(grammar, verbose=False)


def test_neither_judge_may_answer_with_an_empty_reason():
    """smollm2-135m once closed its ``reason`` at once under load in the full suite
    (``test_new_rubric``: 3 notes for 4 judgments), a score with no why; both judges' grammars
    now need one character before the closing quote."""
    from tipbench_lib.backends.embedded import json_grammar
    from tipbench_lib.judge.llm import with_reason

    rubric_schema = with_reason({"type": "object", "properties": {}, "required": []})
    for schema in (PAIR_SCHEMA, rubric_schema):
        reason = json_grammar(schema).split("reason ::= ", 1)[1].splitlines()[0]
        assert reason.startswith('"\\"" char (char'), reason


# -- the pure parts -------------------------------------------------------------------------------


def test_the_plan_draws_pairs_per_cell_pair_and_more_keeps_the_first():
    by_cell = {f"c{i}": [f"c{i}-t{k}" for k in range(3)] for i in range(4)}
    scenario_of = {"c0": "s1", "c1": "s1", "c2": "s1", "c3": "s2"}
    one = pair_plan(by_cell, scenario_of, 7, 1)
    assert [(p.cell_a, p.cell_b) for p in one] == [("c0", "c1"), ("c0", "c2"), ("c1", "c2")]
    assert pair_plan(by_cell, scenario_of, 7, 1) == one, "the seed fixes the draw"
    two = pair_plan(by_cell, scenario_of, 7, 2)
    assert [p for i, p in enumerate(two) if i % 2 == 0] == one, "more pairs keep the first"
    assert len(pair_plan(by_cell, scenario_of, 7, 50)) == 3 * 9, "at most every tip pair"
    assert {p.candidate_a[:2] for p in pair_plan(by_cell, scenario_of, 8, 9)} == {"c0", "c1"}
    draws = {tuple(p.pair_id for p in pair_plan(by_cell, scenario_of, s, 1)) for s in range(8)}
    assert len(draws) > 1, "another seed, other tips"


def test_the_both_orders_rule_and_the_sides():
    assert in_pair_terms("left", "a") == "a" and in_pair_terms("left", "b") == "b"
    assert in_pair_terms("right", "b") == "a" and in_pair_terms("tie", "a") == "tie"
    assert both_orders("a", "a") == "a" and both_orders("b", "b") == "b"
    assert both_orders("a", "b") == "tie" and both_orders("a", "tie") == "tie"
    assert parse_choice('{"better": "tie", "reason": "same"}') == ("tie", "same")
    from tipbench_lib.core.errors import JudgingError

    with pytest.raises(JudgingError, match="not valid JSON"):
        parse_choice('{"better": "le')
    with pytest.raises(JudgingError, match="better must be one of"):
        parse_choice('{"better": "A"}')


# -- the real embedded model ----------------------------------------------------------------------


@pytest.mark.slow
def test_the_embedded_judge_judges_pairs_end_to_end(
    mlflow_client, experiment_name, tipbench_home, capsys
):
    """smollm2-135m on llama.cpp, a real mlflow server: every pair answered in both orders under
    the grammar, the both-orders rule applied, the position bias printed."""
    _experiment(mlflow_client, experiment_name, n_scenarios=1)
    argv = ["--experiment", experiment_name, "--llm-judge", "smollm2-135m"]
    code = main([*argv, "--backend", "embedded", "--mode", "pairwise"], client=mlflow_client)
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    pairs = _journalled(experiment_name, "llm:smollm2-135m")
    assert len(pairs) == 3 and all(p.ok and set(p.order_answers) == {"a", "b"} for p in pairs)
    for pair in pairs:
        assert pair.answer == both_orders(pair.order_answers["a"], pair.order_answers["b"])
        assert pair.source.parameter_count and pair.source.is_weak
    assert "position bias: the left side won" in out and "orders disagreed on" in out, out
    assert _in_mlflow(mlflow_client, experiment_name, "llm:smollm2-135m") == {
        p.pair_id: p for p in pairs
    }


@pytest.mark.slow
def test_a_line_break_in_a_reason_no_longer_fails_a_pair(tipbench_home):
    """Found by bench/llm_pairs.py: on this pair of the shipped sample smollm2-135m wrote a raw
    line break inside its reason in all three attempts of the first order, so a valid choice was
    recorded failed. The grammar now keeps control characters out of strings: every attempt
    parses."""
    import polars as pl

    from tipbench_lib.backends.embedded import EmbeddedBackend
    from tipbench_lib.core.rubric import load_rubric
    from tipbench_lib.core.scenarios import ScenarioView, load_scenarios
    from tipbench_lib.judge.llm_pairs import PAIR_OPTIONS, showing_request

    sample = Path(__file__).resolve().parents[1] / "tipbench_lib" / "data" / "sample"
    tips = pl.read_parquet(sample / "candidates.parquet")
    text = dict(zip(tips["candidate_id"], tips["text"], strict=True))
    left, right = text["1b5b945722343a0b"], text["8ff038647b3ec484"]
    (view,) = [ScenarioView.of(s) for s in load_scenarios() if s.id == "founder-evening"]
    seed = int(pair_id("1b5b945722343a0b", "8ff038647b3ec484")[:8], 16)
    with EmbeddedBackend(n_threads=1) as backend:
        backend.load("smollm2-135m", PAIR_OPTIONS)
        info = backend.describe("smollm2-135m")
        for attempt in range(3):
            request = showing_request(
                info, load_rubric(), view, left, right, seed + attempt, PAIR_OPTIONS
            )
            parse_choice(backend.generate("smollm2-135m", request).text)


@pytest.mark.slow
def test_a_pairs_second_order_reuses_the_rubric_and_the_scenario(tipbench_home):
    """Both showings of a pair, and every pair of a scenario, share the rubric and the scenario:
    after the first showing, a showing evaluates the two tips and the words around them only."""
    from tipbench_lib.backends.embedded import EmbeddedBackend
    from tipbench_lib.core.rubric import load_rubric
    from tipbench_lib.judge.llm_pairs import PAIR_OPTIONS, showing_request

    from .test_embedded_backend import PromptEvaluations, nurse_morning

    rubric, view = load_rubric(), nurse_morning()
    with EmbeddedBackend() as backend:
        backend.load("smollm2-135m", PAIR_OPTIONS)
        info = backend.describe("smollm2-135m")
        llm = backend._resident.llm
        counter = PromptEvaluations(llm)

        def shown(left: str, right: str) -> tuple[int, int, int]:
            request = showing_request(info, rubric, view, left, right, 11, PAIR_OPTIONS)
            gen = backend.generate("smollm2-135m", request)
            json.loads(gen.text)
            user = request.messages[-1]["content"]
            assert user.startswith(view.as_text())
            after_scenario = user[len(view.as_text()) :].encode()
            own = len(llm.tokenize(after_scenario, add_bos=False))
            return gen.prompt_tokens, counter.prompt_positions(gen.prompt_tokens), own

        prompt, evaluated, _ = shown(TIPS[0], TIPS[1])
        assert evaluated == prompt, "the first showing evaluates its whole prompt"
        for left, right in ((TIPS[1], TIPS[0]), (TIPS[2], TIPS[3]), (TIPS[3], TIPS[2])):
            # The tips, the words around them and the chat template's closing turn markers.
            prompt, evaluated, own = shown(left, right)
            assert evaluated <= own + 12, (prompt, evaluated, own)
