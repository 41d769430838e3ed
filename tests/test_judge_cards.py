"""The judging card's HTML shows model output and file text as literal characters; the status
panel and the stop message say what the queue did."""

from __future__ import annotations

from tipbench_lib.core.rubric import shipped_rubric
from tipbench_lib.core.scenarios import ScenarioView, Task
from tipbench_lib.judge.cards import progress_html, scenario_html, tip_html
from tipbench_lib.judge.session import Card, JudgingProgress

HOSTILE = "<script>alert(1)</script> **bold** <img src=x onerror=alert(2)> & done"


def card(text: str = HOSTILE, revealed: dict[str, str] | None = None) -> Card:
    view = ScenarioView(
        "nurse-<u>x</u>",
        "Amara <i>",
        "ICU nurse & night shifts",
        "morning",
        "7-11 am",
        (Task("Renew <BLS>", "high", 90), Task("Call the landlord", "low", 10)),
    )
    auto = {"format_ok": True, "overlong": False}
    return Card("c1", "cell", 3, 12, view, text, auto, len(text), None, revealed or {})


def test_a_tip_is_escaped_and_never_becomes_markup():
    rubric = shipped_rubric()
    html = tip_html(card(), rubric)
    assert "<script>" not in html and "<img" not in html
    assert f"{rubric.flag('format_ok').name}: yes" in html  # the checks, named by the rubric
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold** &lt;img" in html
    assert "&amp; done" in html
    assert "Tip 3 of 12" in html


def test_scenario_text_from_files_is_escaped_too():
    html = scenario_html(card(revealed={"model": "<evil>"}))
    for raw in ("<u>x</u>", "Amara <i>", "Renew <BLS>", "<evil>"):
        assert raw not in html
    assert "Renew &lt;BLS&gt;" in html and "ICU nurse &amp; night shifts" in html


def test_progress_reads_judged_of_total():
    html = progress_html(JudgingProgress(judged=3, total=12, cells=()))
    assert "3 / 12" in html and "width:25.0%" in html


def test_the_status_panel_and_stop_message_name_comparisons_given_up_by_projection():
    """A comparison the projection gave up on is named as such, gets no cards-left estimate,
    and the "you can stop" message says more cards could still decide it."""
    from tipbench_lib.judge.cards import status_html, stop_text
    from tipbench_lib.stats.anytime import PROJECTED

    status = {
        "comparisons": 2,
        "decided": 1,
        "undecided": 1,
        "out_of_reach": 0,
        "out_of_reach_projected": 1,
        "out_of_reach_projected_chance": 0.013,
        "cards_judged": 40,
        "cards_left_estimate": 0,
        "can_stop": True,
    }
    rows = [
        {"decision": "better", "decided": True, "n_scenarios": 9, "cs_lo": 0.4, "cs_hi": 3.1},
        {
            "decision": PROJECTED,
            "decided": False,
            "n_scenarios": 8,
            "cs_lo": -2.0,
            "cs_hi": 2.2,
            "cards_left_estimate": 12,
            "projected_chance": 0.013,
        },
    ]
    html = status_html(status, rows, "adaptive")
    assert (
        "1 given up (projected out of reach: more cards would decide it with a chance of 1%)"
        in html
    )
    assert "given up: out of reach (projected)" in html
    assert "12 cards left" not in html
    assert "no more cards (a chance of 1% that more decide)" in html
    message = stop_text(status)
    assert message.startswith("**You can stop")
    assert (
        "1 of them was given up by projection: judging the cards left would decide it with a "
        "chance of 1%." in message
    )
    two = {**status, "out_of_reach_projected": 2, "out_of_reach_projected_chance": 0.034}
    assert "would decide each with a chance of at most 3%." in stop_text(two)
    few = {**two, "out_of_reach_projected_chance": 0.004}
    assert "would decide each with a chance under 1%." in stop_text(few)
    assert "projection" not in stop_text({**status, "out_of_reach_projected": 0})
    assert "with other judges" in stop_text({**status, "can_stop": False})


# -- the card's form: built in the library, its pre-selection tested without a browser ----------


def judgment(scores: dict, note: str = "", ok: bool = True):
    from tipbench_lib.core.records import FAILED, JudgeSource, Judgment, now_iso

    rubric = shipped_rubric()
    return Judgment(
        candidate_id="c1",
        cell_id="cell",
        source=JudgeSource("human", "ana"),
        rubric=rubric.ref,
        scores=scores if ok else {},
        composite=rubric.composite_of(rubric.check(scores)) if ok else None,
        note=note,
        status="ok" if ok else FAILED,
        error="" if ok else "no JSON",
        created_at=now_iso(),
    )


PREVIOUS = {"relevance": 2, "actionability": 3, "tone": 4, "format_ok": False, "overlong": True}


def test_a_new_card_starts_blank_with_the_automatic_checks_ticked():
    from tipbench_lib.judge.cards import preselected

    values = preselected(shipped_rubric(), card(), {})
    assert values == {
        "relevance": None,
        "actionability": None,
        "tone": None,
        "format_ok": True,  # the automatic check said yes
        "overlong": False,
        "note": "",
    }


def test_revising_starts_from_the_previous_score_not_the_automatic_checks():
    from dataclasses import replace

    from tipbench_lib.judge.cards import preselected

    revising = replace(card(), previous=judgment(PREVIOUS, note="too long"))
    values = preselected(shipped_rubric(), revising, {})
    assert values == {**PREVIOUS, "note": "too long"}


def test_a_refused_submit_keeps_the_judges_picks_over_the_previous_score():
    from dataclasses import replace

    from tipbench_lib.judge.cards import preselected

    revising = replace(card(), previous=judgment(PREVIOUS, note="too long"))
    draft = {"relevance": 5, "overlong": False, "note": "changed my mind"}
    values = preselected(shipped_rubric(), revising, draft)
    assert values == {**PREVIOUS, **draft}


def test_a_failed_previous_judgment_is_not_a_score_to_start_from():
    from dataclasses import replace

    from tipbench_lib.judge.cards import preselected

    failed = replace(card(), previous=judgment(PREVIOUS, ok=False))
    assert preselected(shipped_rubric(), failed, {}) == preselected(shipped_rubric(), card(), {})


def test_the_card_form_shows_the_preselection_and_submits_to_the_handler():
    """The form the notebook shows: one radio per dimension (options are the anchored levels),
    one checkbox per flag, a note; its elements start at :func:`preselected`'s values."""
    from dataclasses import replace

    from tipbench_lib.judge.cards import card_form

    rubric = shipped_rubric()
    revising = replace(card(), previous=judgment(PREVIOUS, note="too long"))
    submitted = []
    form = card_form(rubric, revising, {"tone": 1}, submitted.append)
    elements = form.element.elements
    assert set(elements) == {*rubric.dimension_ids, *rubric.flag_ids, "note"}
    assert {d: elements[d].value for d in rubric.dimension_ids} == {
        "relevance": 2,
        "actionability": 3,
        "tone": 1,
    }
    assert elements["overlong"].value is True and elements["format_ok"].value is False
    assert elements["note"].value == "too long"
    level = rubric.dimensions[0].levels[0]
    assert f"{level.score} · {level.anchor}" in elements["relevance"].options
    assert "automatic check: yes" in elements["format_ok"].text
    form._on_change({"relevance": 5})  # what marimo does with a submitted value
    assert submitted == [{"relevance": 5}]


def _demo_like_status(n_scenarios: int, baseline: tuple[str, str] | None = None) -> dict:
    """The queue's status of 2 models x 3 prompts x ``n_scenarios`` x 3 tips at 0 judged."""
    from tipbench_lib.stats import adaptive

    rows = [
        {"candidate_id": f"{m}-{p}-{s}-{k}", "model": m, "prompt_version": p, "scenario_id": s}
        for m in ("smollm2-135m", "gemma3-270m")
        for p in ("v1", "v2-mentor", "v3-few-shot")
        for s in range(n_scenarios)
        for k in range(3)
    ]
    state = adaptive.QueueState(adaptive.queue_design(rows, baseline))
    return {**adaptive.status(state), "can_stop": adaptive.can_stop(state)}


def test_an_undecidable_design_is_said_before_the_first_card_instead_of_stop():
    """Issue 20: today's demo (6 cells, 8 scenarios, all 15 pairs) cannot decide anything; the
    stop message said "You can stop: every primary comparison is decided or out of reach" at 0
    judged. It must say the design cannot decide, and what would."""
    from tipbench_lib.judge.cards import design_warning, status_html, stop_text

    status = _demo_like_status(8)
    assert status["cards_judged"] == 0 and status["decidable"] is False
    message = stop_text(status)
    assert not message.startswith("**You can stop")
    assert "cannot decide any of its 15 primary comparisons" in message
    assert "at least 10 scenarios" in message
    assert "name a baseline" in message and "5 comparisons need at least 8" in message
    assert design_warning(status) is not None and "cannot decide" in design_warning(status)
    assert "cannot decide" in status_html(status, [], "adaptive")
    named = _demo_like_status(8, ("smollm2-135m", "v1"))
    assert named["decidable"] is True and design_warning(named) is None
    assert "cannot decide" not in status_html(named, [], "adaptive")


def test_a_pairwise_card_shows_both_tips_as_literal_text_and_names_no_cell_when_blind():
    from tipbench_lib.judge.cards import pair_html
    from tipbench_lib.judge.pair_session import PairCard, PairSide

    view = card().scenario
    left = PairSide("c1", "cell-1", HOSTILE, len(HOSTILE))
    right = PairSide("c2", "cell-2", "Take a <b>walk</b>", 18, {"model": "<evil>"})
    html = pair_html(PairCard("p1", view, left, right, 4, 9))
    assert "<script>" not in html and "<img" not in html and "<b>walk" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in html
    assert "Take a &lt;b&gt;walk&lt;/b&gt;" in html and "&lt;evil&gt;" in html
    assert "data-left='c1'" in html and "data-right='c2'" in html
    assert "A · left (pair 4 of 9)" in html and "B · right" in html
    blind = pair_html(PairCard("p1", view, left, PairSide("c2", "cell-2", "x", 1), 4, 9))
    assert "cell-1" not in blind and "cell-2" not in blind and "model" not in blind
