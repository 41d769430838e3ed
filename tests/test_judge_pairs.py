"""The pairwise card's session and save, against a real MLflow server (docs/architecture.md,
section 13): which pairs a judge is served and in what order, the sides drawn from a recorded
seed and stored as shown, answers from the page checked, and the adaptive pair queue saying when
to stop under the family fixed before data."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tipbench_lib.core.errors import JudgingError

from .test_judge import collected_experiment

TIPS = ("Tip one: do the report first.", "Tip two: a walk.", "Tip three: water.", "Tip four.")


def _open(client, experiment, judge="ana", **kw):
    from tipbench_lib.judge.pair_session import PairSession

    return PairSession(client, experiment, judge, **kw)


def test_the_uniform_order_covers_each_scenario_and_cell_pair_per_round_and_resumes(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(
        mlflow_client,
        experiment_name,
        prompts=("v1", "v2-mentor"),
        n_scenarios=3,
        n_tips=2,
        texts=TIPS,
    )
    session = _open(mlflow_client, experiment_name, order="uniform")
    pairs = [session.pairs[p] for p in session.order]
    # 4 cells per scenario: 6 cell pairs x 2 x 2 tip pairs x 3 scenarios.
    assert len(pairs) == len(set(session.order)) == 72
    units = [(p.scenario_id, p.cell_a, p.cell_b) for p in pairs]
    first_round = units[:18]
    assert len(set(first_round)) == 18, "each (scenario, cell pair) once in the first round"
    assert all(Counter(units[18 * r : 18 * (r + 1)]) == Counter(first_round) for r in range(4))
    neighbours = sum(a.scenario_id == b.scenario_id for a, b in zip(pairs, pairs[1:], strict=False))
    assert neighbours <= 4, "neighbours share a scenario only where a round cannot avoid it"
    for pair in pairs:
        cells = session.scores.cells
        assert cells[pair.cell_a].scenario_id == cells[pair.cell_b].scenario_id
        assert pair.cell_a < pair.cell_b
    again = _open(mlflow_client, experiment_name, order="uniform")
    assert again.seed == session.seed and again.order == session.order, "recorded, resumed"
    other = _open(mlflow_client, experiment_name, "bo", order="uniform")
    assert other.order != session.order


def test_sides_are_drawn_per_card_and_the_answer_is_stored_as_shown(
    mlflow_client, experiment_name, tipbench_home
):
    collected_experiment(
        mlflow_client,
        experiment_name,
        prompts=("v1", "v2-mentor"),
        n_scenarios=3,
        n_tips=2,
        texts=TIPS,
    )
    session = _open(mlflow_client, experiment_name, order="uniform")
    cards = [session.card(p) for p in session.order]
    left_is_a = sum(c.left.candidate_id == session.pairs[c.pair_id].candidate_a for c in cards)
    assert 20 < left_is_a < 52, f"sides drawn at random: A on the left {left_is_a} of 72"
    assert all(not c.left.revealed and not c.right.revealed for c in cards), "blind"

    card = session.next_card()
    record = session.save(card, "left", "the left one names a task")
    left_side = "a" if card.left.candidate_id == record.candidate_a else "b"
    assert record.answer == left_side and record.order_answers == {left_side: left_side}
    [stored] = session.journal.latest_pairs().values()
    assert stored == record and stored.note == "the left one names a task"
    assert session.progress().judged == 1
    assert session.next_card().pair_id != card.pair_id

    # Revising shows the same sides with the answer as given; the latest answer counts.
    again = _open(mlflow_client, experiment_name, order="uniform").card(card.pair_id)
    assert (again.left, again.right) == (card.left, card.right)
    assert again.previous_choice == "left"
    session.save(again, "tie")
    assert session.card(card.pair_id).previous_choice == "tie"
    assert len(session.journal.pairs()) == 2 and session.progress().judged == 1
    [(label, pid)] = session.revisable()
    assert pid == card.pair_id and "tie" in label


def test_an_answer_from_the_page_is_checked_before_anything_is_saved(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.app import submit_pair
    from tipbench_lib.judge.delivery import BackgroundDelivery
    from tipbench_lib.judge.widgets import NOTE_LIMIT

    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=1, texts=TIPS)
    session = _open(mlflow_client, experiment_name, order="uniform")
    delivery = BackgroundDelivery(session, quiet=0.0)
    card = session.next_card()
    for content, words in (
        ({"card": "another", "choice": "left", "note": "kept"}, "another card"),
        ({"card": card.pair_id, "choice": "up", "note": "kept"}, "must be one of left"),
        ({"card": card.pair_id, "choice": "left", "note": "x" * (NOTE_LIMIT + 1)}, "at most"),
    ):
        outcome = submit_pair(session, card, content, delivery)
        assert not outcome.saved and words in outcome.message, outcome.message
    assert outcome.draft_for(card.pair_id) == {"note": "x" * (NOTE_LIMIT + 1)}
    assert session.journal.pairs() == []

    outcome = submit_pair(
        session, card, {"card": card.pair_id, "choice": "right", "note": ""}, delivery
    )
    assert outcome.saved and outcome.message.startswith("Saved pair #")
    assert delivery.settle().error == ""
    from tipbench_lib.tracking.experiment import read_experiment

    [mlflow] = read_experiment(mlflow_client, experiment_name).records.pairs
    assert mlflow == session.journal.pairs()[0]


def test_the_pair_queue_decides_a_clear_difference_and_says_stop_before_every_pair(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, n_scenarios=12, n_tips=2, texts=TIPS)
    session = _open(mlflow_client, experiment_name)
    assert session.status()["decidable"] and not session.can_stop()
    model = {cid: c.model for cid, c in session.scores.cells.items()}
    answered, scenarios = 0, Counter()
    while not session.can_stop():
        card, extra = session.serve()
        assert card is not None and not extra, "the queue serves until it can stop"
        scenarios[card.scenario.scenario_id] += 1
        choice = "left" if model[card.left.cell_id] == "smollm2-135m" else "right"
        session.save(card, choice)
        answered += 1
    assert answered < session.total, "stopped before every pair"
    per_unit = session.cards_per_unit()
    assert per_unit == 3, "the queue's three cards per unit: 2 x 2 tip pairs allow them"
    assert set(scenarios.values()) == {per_unit}, "a unit's cards (other tips) enter together"
    status = session.status()
    assert status["decided"] == status["comparisons"] == 1 and status["can_stop"]
    [row] = session.comparisons()
    assert row["decision"] in ("better", "worse") and row["a_model"] == "", "blind"
    card, extra = session.serve()
    assert card is not None and extra, "beyond the queue: the uniform order, flagged"

    # The family was fixed before data, for both modes: no other baseline now.
    with pytest.raises(JudgingError, match="could be chosen after seeing data"):
        _open(mlflow_client, experiment_name, baseline=("gemma3-270m", "v1"))
    with pytest.raises(JudgingError, match="could be chosen after seeing data"):
        JudgeSession(mlflow_client, experiment_name, "bo", baseline=("gemma3-270m", "v1"))


def test_an_experiment_without_two_cells_in_a_scenario_is_refused_writing_nothing(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.journal import judgments_dir

    collected_experiment(
        mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2, texts=TIPS
    )
    with pytest.raises(JudgingError, match="no scenario with two cells"):
        _open(mlflow_client, experiment_name)
    folder = judgments_dir(experiment_name)
    assert not folder.exists() or not any(folder.glob("*.jsonl"))


def _slot(session, card) -> tuple[str, frozenset]:
    """The (scenario, cell pair) unit a pair card serves, the cells as (model, prompt)."""
    pair = session.pairs[card.pair_id]
    cells = session.scores.cells
    arms = (cells[pair.cell_a], cells[pair.cell_b])
    return pair.scenario_id, frozenset((c.model, c.prompt_version) for c in arms)


def test_two_judges_apps_are_never_sent_the_same_pair_slot_while_its_plan_lives(
    mlflow_client, experiment_name, tipbench_home
):
    """Two apps (two kernels: two sessions that meet only through their journals) judging pairs
    at once: a slot planned for one is not handed to the other while the plan lives; a judge who
    leaves holds it for the app's time-to-live, then it goes back to everyone."""
    from tipbench_lib.judge.queue import APP_PLAN_TTL

    collected_experiment(mlflow_client, experiment_name, n_scenarios=12, n_tips=2, texts=TIPS)
    ana = _open(mlflow_client, experiment_name, "ana")
    bo = _open(mlflow_client, experiment_name, "bo")
    for _ in range(4):
        card_a, extra_a = ana.serve()
        card_b, extra_b = bo.serve()
        assert not extra_a and not extra_b
        assert _slot(ana, card_a) != _slot(bo, card_b), "both judges were sent the same slot"
        ana.save(card_a, "left")
        bo.save(card_b, "right")

    # ana leaves with a card on screen: one comparison, so its slot is the next one anyone
    # would get, and cy is kept off it until ana's plan expires.
    left_behind, _ = ana.serve()
    now = time.time()
    for minutes, free in ((APP_PLAN_TTL / 60 - 1, False), (APP_PLAN_TTL / 60 + 1, True)):
        cy = _open(mlflow_client, experiment_name, "cy")
        cy.people.plans.clock = lambda minutes=minutes: now + minutes * 60
        card, extra = cy.serve()
        assert not extra
        assert (_slot(cy, card) == _slot(ana, left_behind)) == free, minutes


def test_pair_plans_hold_across_comparisons_and_leave_rubric_plans_alone(
    mlflow_client, experiment_name, tipbench_home
):
    """Four cells against a named baseline (three comparisons), two judges answering in turns,
    each with a card on screen: a judge is never served a unit the other's plan holds, and a
    pair plan never replaces the same judge's rubric plan (each mode keeps its own)."""
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(
        mlflow_client, experiment_name, prompts=("v1", "v2-mentor"), n_scenarios=12, n_tips=2,
        texts=TIPS,
    )  # fmt: skip
    scores = JudgeSession(mlflow_client, experiment_name, "ana", baseline=("smollm2-135m", "v1"))
    planned = set(scores.queue())
    ana = _open(mlflow_client, experiment_name, "ana")
    bo = _open(mlflow_client, experiment_name, "bo")
    judges = (ana, bo)
    on_screen = {}
    for turn in range(24):
        session, other = judges[turn % 2], judges[1 - turn % 2]
        if session.judge_id in on_screen:
            session.save(on_screen[session.judge_id], ("left", "right", "tie")[turn % 3])
        card, extra = session.serve()
        assert card is not None and not extra
        on_screen[session.judge_id] = card
        if other.judge_id in on_screen:
            assert _slot(session, card) != _slot(other, on_screen[other.judge_id])
    rubric_bo = JudgeSession(mlflow_client, experiment_name, "bo")
    assert planned and not planned & set(rubric_bo.queue()), "ana's rubric plan still holds"


def test_the_pairwise_design_warning_names_the_test_of_win_shares_and_its_numbers(
    mlflow_client, experiment_name, tipbench_home
):
    """Two cells over two scenarios cannot decide their one comparison. The warning above the
    first pair card must say so in pairwise terms: answers, the sequence on the win share, and
    compare's paired test of the scenarios' win shares (stats/pairwise.compare_pairwise) with
    its floor and threshold, not the rubric card's sentence about scores."""
    from tipbench_lib.judge.cards import design_warning, status_html, stop_text

    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2, texts=TIPS)
    session = _open(mlflow_client, experiment_name)
    status = session.status()
    assert status["decidable"] is False and status["scenarios_to_decide"] == 6
    assert design_warning(status) == (
        "This design cannot decide its one primary comparison, whatever the answers: with 2 "
        "scenarios, not even a cell winning every pair in every scenario takes a comparison's "
        "sign-flip sequence on the win share to its threshold at α, and compare's paired test "
        "of the win shares (the signed-rank test over scenarios of each scenario's share − 1/2) "
        "cannot go below p = 0.5 (2/2^2), above the α = 0.05 Holm's first step needs. It needs "
        "at least 6 scenarios for it."
    )
    message = stop_text(status, pairwise=True)
    assert message.startswith("**Nothing can be decided here, whatever the answers.** This")
    assert "score" not in message, message
    assert design_warning(status) in status_html(
        status, session.comparisons(), "adaptive", pairwise=True
    ).replace("&#x27;", "'")
