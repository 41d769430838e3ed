"""The judge app's pairwise card in headless Chromium against `marimo run notebooks/judge.py
-- --mode pairwise` and a real MLflow server: pairs judged with the keyboard only, the note box
typed into without answering, and the journal (then MLflow) holding exactly those answers with
the sides as shown (docs/architecture.md, section 13)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .test_judge import collected_experiment
from .test_judge_browser import browser_page, judge_app

ARTIFACTS = Path(__file__).parent / "artifacts"


def shown_pair(page: object, timeout_ms: int = 120_000) -> dict[str, str]:
    """The pair on screen: its id and the candidates on the left and on the right."""
    page.wait_for_selector(".tb-pair", timeout=timeout_ms)
    card = page.locator(".tb-pair").first
    return {
        "pair": card.get_attribute("data-candidate"),
        "left": card.get_attribute("data-left"),
        "right": card.get_attribute("data-right"),
    }


def answer_with_key(page: object, key: str, shown: dict[str, str]) -> dict[str, str]:
    """Press ``key`` on the page (nothing focused) and wait for the next pair."""
    page.wait_for_selector("button.tb-answer:not([disabled])", timeout=120_000)
    page.keyboard.press(key)
    page.wait_for_selector(f".tb-pair:not([data-candidate='{shown['pair']}'])", timeout=120_000)
    return shown_pair(page)


@pytest.mark.browser
def test_pairs_judged_with_the_keyboard_are_stored_as_shown(
    mlflow_client, mlflow_env, experiment_name
):
    from tipbench_lib.core.records import PairJudgment
    from tipbench_lib.judge.journal import JudgeJournal
    from tipbench_lib.tracking.experiment import read_experiment

    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2)
    home = Path(mlflow_env["TIPBENCH_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    answered: list[tuple[dict[str, str], str, str]] = []
    with (
        judge_app(mlflow_env, experiment_name, "ana", "--mode", "pairwise") as url,
        browser_page() as page,
    ):
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(url)
        shown = shown_pair(page)
        assert "0 / 8 judged" in page.locator(".tb-progress").inner_text()
        buttons = page.locator("button.tb-answer")
        assert [b.get_attribute("data-choice") for b in buttons.all()] == ["left", "tie", "right"]
        assert "← or A or 1" in buttons.nth(0).inner_text()
        assert "→ or B or 2" in buttons.nth(2).inner_text()
        assert "smollm2" not in page.content() and "gemma" not in page.content(), "blind"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge-pair.png"), full_page=True)
        # The first card answers without scrolling at 1280x800: the buttons on screen, whole,
        # under the design's warning (two scenarios cannot decide anything).
        page.wait_for_selector(".tb-undecidable")  # the warning: in the same output as the card
        page.screenshot(path=str(ARTIFACTS / "judge-pair-first.png"))
        for index in range(3):
            box = buttons.nth(index).bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, box

        for key, choice in (("ArrowLeft", "left"), ("b", "right"), ("3", "tie"), ("a", "left")):
            after = answer_with_key(page, key, shown)
            answered.append((shown, choice, ""))
            shown = after

        # Typing a note never answers: its letters include a, b and t. Esc leaves the box,
        # then → answers with the note.
        note = page.locator("textarea.tb-note")
        note.focus()
        page.keyboard.type("a bit too long; b is better at the start")
        page.keyboard.press("ArrowLeft")  # moves the caret, answers nothing
        assert shown_pair(page)["pair"] == shown["pair"]
        page.keyboard.press("Escape")
        page.screenshot(path=str(ARTIFACTS / "judge-pair-note.png"), full_page=True)
        after = answer_with_key(page, "ArrowRight", shown)
        answered.append((shown, "right", "a bit too long; b is better at the start"))
        shown = after
        page.wait_for_function("() => document.body.innerText.includes('5 / 8 judged')")
        page.screenshot(path=str(ARTIFACTS / "judge-pair-next.png"), full_page=True)
        # Two scenarios cannot decide the one comparison: said above the card, not "stop".
        assert page.locator(".tb-undecidable").count() == 1
        assert page.get_by_text("You can stop").count() == 0

        # Revise the last answer from the list below the card: same sides, the note kept,
        # answered with a key; then the queue resumes where it was.
        page.get_by_text("Revise a recent answer (5 saved)").wait_for()
        page.get_by_label("Revise a recent answer (5 saved)").click()
        page.get_by_role("option").filter(has_text="#").first.click()
        revised = answered[-1][0]
        page.wait_for_selector(f".tb-pair[data-candidate='{revised['pair']}']", timeout=120_000)
        assert shown_pair(page) == revised, "a revised pair shows the sides it was answered on"
        page.get_by_text("Revising pair #").first.wait_for()
        assert page.locator("textarea.tb-note").input_value() == answered[-1][2]
        page.locator("textarea.tb-note").blur()
        assert answer_with_key(page, "3", revised) == shown, "the queue resumes"
        answered[-1] = (revised, "tie", answered[-1][2])
        page.screenshot(path=str(ARTIFACTS / "judge-pair-revised.png"), full_page=True)

    journal = JudgeJournal(experiment_name, "ana", (), home)
    stored = journal.latest_pairs()
    assert len(stored) == len(answered) == len({s["pair"] for s, _, _ in answered})
    assert len(journal.pairs()) == len(answered) + 1, "the journal keeps the revised answer too"
    cells = read_experiment(mlflow_client, experiment_name).records.candidates
    cell_of = {c.candidate_id: c.cell_id for c in cells}
    for shown, choice, note in answered:
        record = stored[shown["pair"]]
        expected = PairJudgment.shown(
            (shown["left"], cell_of[shown["left"]]),
            (shown["right"], cell_of[shown["right"]]),
            choice,
            scenario_id=record.scenario_id,
            source=record.source,
            rubric=record.rubric,
        )
        assert (record.answer, record.order_answers) == (expected.answer, expected.order_answers)
        assert (record.candidate_a, record.candidate_b) == (
            expected.candidate_a,
            expected.candidate_b,
        )
        assert record.note == note
        assert record.judge_id == "ana" and record.source.kind == "human"

    # MLflow, read back verified as every reader does, holds the same answers (the app's sender
    # delivered them from its thread; closing the app delivers what was pending).
    delivered = pairs_in_mlflow(mlflow_client, experiment_name, "ana", len(answered))
    assert {p.pair_id: (p.answer, p.order_answers, p.note) for p in delivered} == {
        pid: (r.answer, r.order_answers, r.note) for pid, r in stored.items()
    }


def pairs_in_mlflow(client, experiment: str, judge_id: str, count: int, timeout: float = 120):
    """The judge's pairwise judgments MLflow holds (verified on reading), once there are
    ``count`` of them."""
    from tipbench_lib.tracking.experiment import read_experiment

    deadline = time.monotonic() + timeout
    while True:
        pairs = [
            p for p in read_experiment(client, experiment).records.pairs if p.judge_id == judge_id
        ]
        if len(pairs) >= count or time.monotonic() > deadline:
            return pairs
        time.sleep(0.2)


@pytest.mark.browser
def test_the_pair_queue_panel_decides_and_says_stop(mlflow_client, mlflow_env, experiment_name):
    """The adaptive pair queue (the default order): a blind status panel per primary comparison,
    and "you can stop" once it is decided, before every pair was shown."""
    from tipbench_lib.tracking.experiment import read_experiment

    collected_experiment(mlflow_client, experiment_name, n_scenarios=12, n_tips=1)
    records = read_experiment(mlflow_client, experiment_name).records
    model_of = {c.candidate_id: records.cells[c.cell_id].model for c in records.candidates}
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)
    with (
        judge_app(mlflow_env, experiment_name, "ana", "--mode", "pairwise") as url,
        browser_page() as page,
    ):
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(url)
        shown = shown_pair(page)
        status = page.locator(".tb-status")
        assert "0 of 1 primary comparisons decided" in status.inner_text()
        assert "smollm2" not in status.inner_text(), "the panel names no model to a blind judge"
        answered = 0
        while status.get_attribute("data-can-stop") != "true" and answered < 12:
            key = "ArrowLeft" if model_of[shown["left"]] == "smollm2-135m" else "ArrowRight"
            shown = answer_with_key(page, key, shown)
            answered += 1
            page.wait_for_function(
                "n => document.body.innerText.includes(n + ' / 12 judged')", arg=answered
            )
        assert status.get_attribute("data-can-stop") == "true", "the queue never said stop"
        assert answered < 12, "the pair queue stopped before every pair"
        assert "1 of 1 primary comparisons decided" in status.inner_text()
        assert "win share [" in status.inner_text()
        assert page.get_by_text("You can stop").count() >= 1
        assert page.get_by_text("Your answers are saved").count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge-pair-stop.png"), full_page=True)
        status.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "judge-pair-panel.png"), full_page=True)
