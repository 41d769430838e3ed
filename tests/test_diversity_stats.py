"""Word bigrams (what "nearly the same tip" means) and the compare phase's distinct-2 per cell."""

from __future__ import annotations

import polars as pl
import pytest

from tipbench_lib.core.bigrams import (
    NEAR_REPEAT_JACCARD,
    bigrams,
    distinct_ratio,
    is_near_repeat,
    similarity,
    tokens,
)
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.diversity import (
    DIVERSITY_COLUMNS,
    cell_diversity,
    distinct_2,
    scenario_diversity,
)

TWENTY = (
    "Block twenty minutes before lunch for the budget draft and close every chat window so "
    "your first pass gets done"
)


def test_tokens_ignore_case_and_punctuation_keep_apostrophes_and_any_script():
    assert tokens("Don't open EMAIL — yet!") == ["don't", "open", "email", "yet"]
    assert tokens("Don’t open email yet.") == ["don't", "open", "email", "yet"]
    assert tokens("Mach jetzt 5 Minuten Pause, bitte.") == [
        "mach",
        "jetzt",
        "5",
        "minuten",
        "pause",
        "bitte",
    ]
    assert tokens("...  !") == []


def test_similarity_matches_the_documented_examples():
    words = TWENTY.split()
    assert len(words) == 20
    assert similarity(TWENTY, TWENTY.upper() + "!!") == 1.0
    one = " ".join([*words[:5], "sixty", *words[6:]])
    assert similarity(TWENTY, one) == pytest.approx(17 / 21)  # 0.81
    assert is_near_repeat(one, [TWENTY])
    two = " ".join([*words[:5], "sixty", *words[6:12], "some", *words[13:]])
    assert similarity(TWENTY, two) == pytest.approx(15 / 23)  # 0.65
    assert not is_near_repeat(two, [TWENTY])
    ten = "Close the chat window and write the first budget line"
    changed = "Close the chat window and write the last budget line"
    assert similarity(ten, changed) < NEAR_REPEAT_JACCARD


def test_short_and_empty_tips_have_a_defined_similarity():
    assert bigrams("Breathe.") == frozenset({("breathe",)})
    assert similarity("Breathe.", "breathe") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("", "Take a walk") == 0.0


def test_distinct_ratio_counts_tips_that_repeat_no_earlier_one():
    a, b = "Take a short walk after lunch today", "Write down the three tasks for tomorrow"
    assert distinct_ratio([]) == 1.0
    assert distinct_ratio([a, b]) == 1.0
    assert distinct_ratio([a, a.upper(), b]) == pytest.approx(2 / 3)
    assert distinct_ratio([a, a, a]) == pytest.approx(1 / 3)


def test_distinct_2_is_one_over_k_for_k_copies_and_one_for_unrelated_tips():
    tip = "Take a short walk after lunch today"
    assert distinct_2([tip] * 4) == pytest.approx(1 / 4)
    assert distinct_2([tip, "Write down the three tasks for tomorrow"]) == 1.0
    assert distinct_2(["Breathe.", "Stop."]) is None  # one-word tips hold no bigram


def frames(tips: dict[tuple[str, str, str], list[str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    cells, candidates = [], []
    for n, ((model, prompt, scenario), texts) in enumerate(tips.items()):
        cell_id = f"c{n}"
        cells.append(
            {
                "cell_id": cell_id,
                "model": model,
                "prompt_version": prompt,
                "scenario_id": scenario,
                "persona": "p",
                "time_slot": "t",
            }
        )
        # Stored out of order: near repeats are judged in sample order, not row order.
        for index, text in reversed(list(enumerate(texts))):
            candidates.append(
                {"candidate_id": f"{cell_id}-{index}", "cell_id": cell_id, "sample_index": index}
                | {"text": text}
            )
    return pl.DataFrame(candidates), pl.DataFrame(cells)


WALK = "Take a short walk after lunch today"
LIST = "Write down the three tasks for tomorrow"
CALL = "Call your sister before the evening news"
NAP = "Lie down for a twenty minute nap now"


def test_a_prompt_that_makes_a_model_repeat_itself_is_visible_per_cell():
    candidates, cells = frames(
        {
            ("m", "varied", "s1"): [WALK, LIST, CALL],
            ("m", "varied", "s2"): [NAP, CALL, LIST],
            ("m", "parrot", "s1"): [WALK, WALK + "!", WALK.lower()],
            ("m", "parrot", "s2"): [NAP, LIST, CALL],
        }
    )
    table = cell_diversity(candidates, cells)
    assert table.columns == list(DIVERSITY_COLUMNS)
    rows = {r["prompt_version"]: r for r in table.iter_rows(named=True)}
    assert rows["varied"]["distinct_2"] == 1.0 and rows["varied"]["near_repeat_share"] == 0.0
    # Per scenario, then averaged: s1 is one tip three times (1/3), s2 three different tips (1).
    assert rows["parrot"]["distinct_2"] == pytest.approx((1 / 3 + 1) / 2)
    assert rows["parrot"]["distinct_2_min"] == pytest.approx(1 / 3)
    assert rows["parrot"]["near_repeat_share"] == pytest.approx((2 / 3 + 0) / 2)
    assert rows["parrot"]["n_scenarios"] == 2


def test_scenarios_are_not_pooled():
    # The same tip in two scenarios is no repetition: each scenario's tips differ among themselves.
    candidates, cells = frames(
        {("m", "v1", "s1"): [WALK, LIST], ("m", "v1", "s2"): [WALK, LIST]},
    )
    table = cell_diversity(candidates, cells)
    assert table["distinct_2"].to_list() == [1.0]
    per = scenario_diversity(candidates, cells)
    assert per["n_tips"].to_list() == [2, 2]


def test_near_repeats_are_judged_in_sample_order():
    candidates, cells = frames({("m", "v1", "s1"): [WALK, LIST, WALK + "."]})
    per = scenario_diversity(candidates, cells)
    assert per["near_repeat_share"].to_list() == [pytest.approx(1 / 3)]


def test_a_frame_without_text_is_named():
    candidates, cells = frames({("m", "v1", "s1"): [WALK]})
    with pytest.raises(TipbenchError, match="candidates lacks the column.*text"):
        cell_diversity(candidates.drop("text"), cells)
