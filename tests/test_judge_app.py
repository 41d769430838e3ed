"""What the judge app does with a submitted card (tipbench_lib.judge.app), against a real MLflow
server: refusals keep the picks, a save is journalled at once and delivered by the sender, and
anything that goes wrong is shown, never only logged."""

from __future__ import annotations

import pytest

from .test_judge import collected_experiment
from .test_judge_browser import judgments_in_mlflow


@pytest.fixture
def app_session(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.delivery import BackgroundDelivery
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    session = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    return session, BackgroundDelivery(session, quiet=0.0)


FULL = {
    "relevance": 4,
    "actionability": 3,
    "tone": 5,
    "format_ok": True,
    "overlong": False,
    "note": "fine",
}


def test_a_card_missing_scores_is_refused_naming_them_and_keeping_the_picks(app_session):
    from tipbench_lib.judge.app import submit

    session, delivery = app_session
    card = session.next_card()
    value = {**FULL, "actionability": None, "tone": None}
    outcome = submit(session, card, value, delivery)
    assert not outcome.ok and not outcome.saved
    assert outcome.message == "**Not saved:** pick a score for Actionability, Tone."
    assert outcome.draft_for(card.candidate_id) == {
        "relevance": 4,
        "format_ok": True,
        "overlong": False,
        "note": "fine",
    }
    assert outcome.draft_for("another card") == {}
    assert session.judged() == {}, "nothing journalled"


def test_a_save_is_journalled_at_once_and_reaches_mlflow_from_the_sender(
    app_session, mlflow_client
):
    from tipbench_lib.judge.app import submit

    session, delivery = app_session
    card = session.next_card()
    outcome = submit(session, card, FULL, delivery)
    assert outcome.ok and outcome.saved
    assert outcome.message.startswith(f"Saved tip #{card.position} (composite ")
    assert "to your journal; MLflow" in outcome.message
    assert session.judged()[card.candidate_id].scores["tone"] == 5
    run_id = session.records.run_ids[card.cell_id]
    [saved] = judgments_in_mlflow(mlflow_client, run_id, "ana", card.candidate_id)
    assert (saved["relevance"], saved["note"]) == (4, "fine")


def test_a_save_that_fails_is_shown_to_the_judge(app_session):
    from tipbench_lib.judge.app import submit

    session, delivery = app_session
    card = session.next_card()
    outcome = submit(session, card, {**FULL, "tone": 9}, delivery)
    assert not outcome.ok and not outcome.saved
    assert outcome.message.startswith("**Not saved:** ")
    assert "tone" in outcome.message
    assert session.judged() == {}
