"""The adaptive pair queue (stats/pair_queue): family, units entered once, plans, stopping."""

from __future__ import annotations

import polars as pl
import pytest

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats import pair_queue as pq

CELLS = [("m1", "v1"), ("m1", "v2"), ("m2", "v1")]


def cells_frame(n_scenarios: int) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"model": m, "prompt_version": p, "scenario_id": f"s{s:02d}"}
            for m, p in CELLS
            for s in range(n_scenarios)
        ]
    )


def empty_outcomes() -> pl.DataFrame:
    columns = ("scenario_id", "a_model", "a_prompt", "b_model", "b_prompt", "answer")
    return pl.DataFrame(schema={c: pl.String for c in columns})


def test_the_family_is_fixed_by_the_baseline_and_slots_come_from_it() -> None:
    state = pq.pair_queue_state(
        empty_outcomes(), cells_frame(12), baseline=("m1", "v1"), cards_per_unit=1
    )
    assert state.design.n_comparisons == 2
    slots = pq.next_pairs(state, "ana", 6, seed=1)
    assert len(slots) == 6
    assert all(slot.cell_b == ("m1", "v1") for slot in slots)
    assert len({(s.scenario_id, s.cell_a) for s in slots}) == 6
    others = pq.next_pairs(state, "bo", 6, seed=2)
    taken = {(s.scenario_id, s.cell_a) for s in slots}
    assert not taken & {(s.scenario_id, s.cell_a) for s in others}
    all_pairs = pq.pair_queue_state(empty_outcomes(), cells_frame(12))
    assert all_pairs.design.n_comparisons == 3


def test_a_scenario_enters_once_with_its_first_judgment_whatever_follows() -> None:
    state = pq.pair_queue_state(
        empty_outcomes(), cells_frame(12), baseline=("m1", "v1"), cards_per_unit=1
    )
    state.record("s00", ("m1", "v2"), ("m1", "v1"), "a")
    state.record("s00", ("m1", "v2"), ("m1", "v1"), "b")  # a second card of the same unit
    state.record("s01", ("m1", "v1"), ("m1", "v2"), "a")  # the baseline's side won: -1/2
    state.record("s01", ("m1", "v1"), ("m2", "v1"), "tie")
    assert state.sequences.n.tolist() == [2, 1]
    assert state.sequences.mean().tolist() == [0.0, 0.0]
    assert state.cards_judged == 4
    with pytest.raises(TipbenchError, match="not a cell or scenario"):
        state.record("s99", ("m1", "v2"), ("m1", "v1"), "a")


def test_a_cell_that_always_wins_is_decided_and_the_queue_stops() -> None:
    state = pq.pair_queue_state(empty_outcomes(), cells_frame(24), baseline=("m1", "v1"))
    rounds = 0
    while not pq.can_stop(state) and rounds < 100:
        rounds += 1
        for slot in pq.next_pairs(state, "ana", 4, seed=3):
            better = slot.cell_a == ("m2", "v1")
            state.record(slot.scenario_id, slot.cell_a, slot.cell_b, "a" if better else "tie")
    status = pq.pair_status(state)
    decisions = {(r["a_model"], r["a_prompt"]): r["decision"] for r in status["comparisons"]}
    assert decisions[("m2", "v1")] == "better"
    assert decisions[("m1", "v2")] != "better"
    assert status["can_stop"] and status["decidable"]
    winner = next(r for r in status["comparisons"] if r["a_model"] == "m2")
    assert winner["cs_lo"] > 0.5 and winner["share_mean"] == 1.0
    assert pq.next_pairs(state, "ana", 4, seed=3) == []


def test_a_design_too_small_to_decide_says_so_before_the_first_card() -> None:
    state = pq.pair_queue_state(empty_outcomes(), cells_frame(4))
    status = pq.pair_status(state)
    assert not status["decidable"]
    assert status["scenarios_to_decide"] > 4
    note = status["design_note"]
    assert note.startswith("This design cannot decide any of its 3 primary comparisons, whatever")
    assert "sign-flip sequence on the win share to its threshold at α/3" in note
    assert "compare's paired test of the win shares" in note and "score" not in note
    assert "p = 0.12 (2/2^4), above the α/3 = 0.017 Holm's first step needs" in note
    assert f"at least {status['scenarios_to_decide']} scenarios for these 3" in note
    assert "name a baseline" in note and "its 2 comparisons need at least" in note


def test_several_cards_per_unit_enter_their_mean() -> None:
    design = pq.pair_design(cells_frame(12).iter_rows(named=True), ("m1", "v1"))
    state = pq.PairQueueState(design, cards_per_unit=2)
    slots = pq.next_pairs(state, "ana", 2, seed=0)
    assert len(slots) == 2 and slots[0] == slots[1]
    state.record(slots[0].scenario_id, slots[0].cell_a, slots[0].cell_b, "a")
    assert state.sequences.n.sum() == 0
    state.record(slots[0].scenario_id, slots[0].cell_a, slots[0].cell_b, "tie")
    assert (
        state.sequences.n.sum() == 1
        and state.sequences.mean()[0 if slots[0].cell_a == ("m1", "v2") else 1] == 0.25
    )


def entered_order(others: str) -> list[str]:
    """The scenarios comparison m1/v2 − m1/v1 takes, in order, when three people take turns:
    it gets alternating wins and losses, the other comparison always ``others`` ("a": decided
    in a few scenarios) or alternating ones too ("ab": open for long)."""
    state = pq.pair_queue_state(
        empty_outcomes(), cells_frame(24), baseline=("m1", "v1"), futility=None
    )
    order: list[str] = []
    cards = {True: 0, False: 0}
    for turn in range(60):
        judge = f"person-{turn % 3}"
        for slot in pq.next_pairs(state, judge, 3, seed=turn % 3):
            mine = slot.cell_a == ("m1", "v2")
            pattern = "ab" if mine else others
            answer = pattern[cards[mine] % len(pattern)]
            cards[mine] += 1
            before = int(state.sequences.n[0])
            state.record(slot.scenario_id, slot.cell_a, slot.cell_b, answer)
            if state.sequences.n[0] > before:
                order.append(slot.scenario_id)
    return order


def test_the_scenarios_a_comparison_gets_do_not_depend_on_other_comparisons_answers() -> None:
    """Its sequence is exact only if the order its scenarios enter in is fixed before any
    answer. The other comparison shares the baseline's tips, so its answers say something about
    this one's in the same scenario; a per-judge scenario order let them pick this one's next
    scenario (through which judge happened to plan it)."""
    settled, open_ = entered_order("a"), entered_order("ab")
    shortest = min(len(settled), len(open_))
    assert shortest >= 12
    assert settled[:shortest] == open_[:shortest]


def test_units_held_for_another_judge_are_planned_for_no_one_else_until_released() -> None:
    """Plans made in another process reach the state as slots (``hold``): their units stay out
    of this state's plans, even of a judge who planned one of them first, until released."""
    state = pq.pair_queue_state(
        empty_outcomes(), cells_frame(12), baseline=("m1", "v1"), cards_per_unit=1
    )
    mine = pq.next_pairs(state, "ana", 4, seed=1)
    elsewhere = pq.next_pairs(
        pq.pair_queue_state(
            empty_outcomes(), cells_frame(12), baseline=("m1", "v1"), cards_per_unit=1
        ),
        "bo",
        4,
        seed=1,
    )
    assert set(mine) == set(elsewhere), "two states that do not know each other collide"
    # Held either way round; a slot of no comparison, an unknown cell or scenario holds nothing.
    turned = pq.PairSlot(elsewhere[0].scenario_id, elsewhere[0].cell_b, elsewhere[0].cell_a)
    junk = [
        pq.PairSlot("s99", ("m1", "v2"), ("m1", "v1")),
        pq.PairSlot("s00", ("m9", "v1"), ("m1", "v1")),
        pq.PairSlot("s00", ("m1", "v2"), ("m2", "v1")),  # not in the baseline's family
    ]
    state.hold("bo", [turned, *elsewhere[1:], *junk])
    assert state.planned_slots("bo") == elsewhere
    again = pq.next_pairs(state, "ana", 4, seed=1)
    assert not set(again) & set(elsewhere), "ana's new plan takes nothing bo holds"
    state.release("bo")
    assert set(pq.next_pairs(state, "ana", 8, seed=1)) >= set(elsewhere)
    # A unit that entered its sequence holds nothing any more.
    first = elsewhere[0]
    state.record(first.scenario_id, first.cell_a, first.cell_b, "a")
    state.hold("bo", elsewhere)
    assert first not in state.planned_slots("bo")
