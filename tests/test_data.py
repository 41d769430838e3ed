"""The benchmark's data files and their loaders: scenarios, prompts, the rubric.

Malformed files are made by editing a copy of the shipped file, so each case is one realistic
mistake, and every message must name the file, the key or line, and what was expected.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from tipbench_lib.core.errors import DataFileError, JudgingError, TipbenchError
from tipbench_lib.core.paths import SHIPPED_DATA as DATA_DIR
from tipbench_lib.core.prompts import (
    PLACEHOLDERS,
    get_prompt,
    list_prompts,
    load_prompt,
    load_prompts,
)
from tipbench_lib.core.rubric import (
    RUBRIC_PAGE,
    clean_tip,
    load_rubric,
    load_rubric_file,
    render_rubric_markdown,
)
from tipbench_lib.core.scenarios import (
    DEFAULT_N_SCENARIOS,
    MAX_TASKS,
    MIN_TASKS,
    load_scenarios,
    scenarios_by_ids,
    select_scenarios,
)

SCENARIOS_FILE = DATA_DIR / "scenarios.toml"
PROMPTS_DIR = DATA_DIR / "prompts"
RUBRIC_FILE = DATA_DIR / "rubric" / "tip-v1.toml"


def edited_copy(src: Path, dest: Path, old: str, new: str) -> Path:
    """Copy ``src`` to ``dest`` with exactly one occurrence of ``old`` replaced."""
    text = src.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"test setup: {old!r} must occur once in {src}"
    dest.write_text(text.replace(old, new), encoding="utf-8")
    return dest


def assert_message(exc: DataFileError, path: Path, *parts: str) -> None:
    message = str(exc)
    assert str(path) in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- scenarios -------------------------------------------------------------------------------


def test_shipped_scenarios_load_with_24_distinct_ids() -> None:
    scenarios = load_scenarios()
    personas = {s.persona.id for s in scenarios}
    slots = [s.time_slot.id for s in scenarios]
    assert len(personas) >= 8
    assert set(slots) == {"morning", "afternoon", "evening"}
    assert len(scenarios) == len(personas) * 3
    assert len({s.id for s in scenarios}) == len(scenarios)
    assert "nurse-evening" in {s.id for s in scenarios}
    for s in scenarios:
        assert s.id == f"{s.persona.id}-{s.time_slot.id}"
        assert MIN_TASKS <= len(s.tasks) <= MAX_TASKS
        assert s.persona.name and s.persona.role and s.persona.habits and s.persona.constraints
        assert s.time_slot.description


def test_content_hash_is_stable_and_changes_with_content(tmp_path: Path) -> None:
    before = {s.id: s.content_hash for s in load_scenarios()}
    assert before == {s.id: s.content_hash for s in load_scenarios()}
    assert len(set(before.values())) == len(before)
    edited = edited_copy(
        SCENARIOS_FILE,
        tmp_path / "s.toml",
        'title = "Pay the phone bill"',
        'title = "Pay the electricity bill"',
    )
    after = {s.id: s.content_hash for s in load_scenarios(edited)}
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {"student-morning", "student-afternoon", "student-evening"}


def test_select_is_spread_across_personas_and_slots() -> None:
    scenarios = load_scenarios()
    n_personas = len({s.persona.id for s in scenarios})
    for n in range(1, len(scenarios) + 1):
        chosen = select_scenarios(n)
        assert len({s.id for s in chosen}) == n
        persona_counts = Counter(s.persona.id for s in chosen)
        slot_counts = Counter(s.time_slot.id for s in chosen)
        if n <= n_personas:
            assert len(persona_counts) == n, f"n={n}: personas repeat"
        assert max(persona_counts.values()) - min(persona_counts.values()) <= 1
        slots_seen = [slot_counts.get(t, 0) for t in ("morning", "afternoon", "evening")]
        assert max(slots_seen) - min(slots_seen) <= 1, f"n={n}: slots {slot_counts}"
        if n < len(scenarios):
            assert select_scenarios(n + 1)[:n] == chosen, "a larger n must extend a smaller one"
    assert len(select_scenarios(DEFAULT_N_SCENARIOS)) == 12


def test_select_is_the_same_in_other_processes_whatever_the_hash_seed() -> None:
    code = (
        "from tipbench_lib.core.scenarios import select_scenarios;"
        "print(','.join(s.id for s in select_scenarios(12)))"
    )
    here = ",".join(s.id for s in select_scenarios(12))
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert out.stdout.strip() == here


def test_select_works_on_a_subset_and_refuses_bad_counts() -> None:
    scenarios = load_scenarios()
    subset = [s for s in scenarios if s.time_slot.id != "evening"]
    chosen = select_scenarios(len(subset), subset)
    assert sorted(s.id for s in chosen) == sorted(s.id for s in subset)
    with pytest.raises(
        TipbenchError,
        match=rf"asked for {len(scenarios) + 1} .* only "
        rf"{len(scenarios)} exist",
    ):
        select_scenarios(len(scenarios) + 1)
    for bad in (0, -3):
        with pytest.raises(TipbenchError, match="positive integer"):
            select_scenarios(bad)


def test_scenarios_by_ids_keeps_order_and_names_unknown_ids() -> None:
    chosen = scenarios_by_ids(["teacher-morning", "nurse-evening"])
    assert [s.id for s in chosen] == ["teacher-morning", "nurse-evening"]
    with pytest.raises(TipbenchError) as info:
        scenarios_by_ids(["nurse-evening", "nurse-night", "pilot-morning"])
    message = str(info.value)
    assert "nurse-night, pilot-morning" in message
    assert "valid ids are:" in message and "teacher-evening" in message


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        pytest.param(
            'title = "Place the weekly grocery order"\n',
            "",
            "personas[3].tasks[1].title",
            "missing; expected a string",
            id="missing-key",
        ),
        pytest.param(
            'estimate_minutes = 120\n\n[[personas.tasks]]\ntitle = "Pay',
            'estimate_minutes = "two hours"\n\n[[personas.tasks]]\ntitle = "Pay',
            "personas[1].tasks[0].estimate_minutes",
            "expected an integer, got str",
            id="wrong-type",
        ),
        pytest.param(
            'id = "teacher"',
            'id = "nurse"',
            "personas[7].id",
            "duplicate id 'nurse'",
            id="duplicate-id",
        ),
        pytest.param(
            'priority = "low"\nestimate_minutes = 5',
            'priority = "urgent"\nestimate_minutes = 5',
            "personas[7].tasks[4].priority",
            "expected one of high, medium, low",
            id="bad-priority",
        ),
        pytest.param(
            'title = "Do the laundry"',
            'titel = "Do the laundry"',
            "personas[1].tasks[5].titel",
            "unknown key",
            id="typo-key",
        ),
        pytest.param(
            'id = "evening"',
            'id = "Evening time"',
            "time_slots[2].id",
            "lowercase letters, digits and dashes",
            id="bad-id",
        ),
    ],
)
def test_malformed_scenarios_name_file_location_and_expectation(
    tmp_path: Path, old: str, new: str, where: str, expected: str
) -> None:
    path = edited_copy(SCENARIOS_FILE, tmp_path / "scenarios.toml", old, new)
    with pytest.raises(DataFileError) as info:
        load_scenarios(path)
    assert_message(info.value, path, where, expected)


def line_of(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = edited_copy(SCENARIOS_FILE, tmp_path / "scenarios.toml", 'name = "Leo"', 'name = Leo"')
    with pytest.raises(DataFileError) as info:
        load_scenarios(path)
    line = line_of(path, 'name = Leo"')
    assert_message(info.value, path, f"line {line}, column", "expected valid TOML")


def test_too_few_tasks_is_rejected(tmp_path: Path) -> None:
    text = SCENARIOS_FILE.read_text(encoding="utf-8")
    start = text.index('[[personas]]\nid = "retiree"')
    block = text[start : text.index("[[personas]]", start + 1)]
    kept = "[[personas.tasks]]".join(block.split("[[personas.tasks]]")[:MIN_TASKS])
    path = tmp_path / "scenarios.toml"
    path.write_text(text.replace(block, kept), encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        load_scenarios(path)
    assert_message(
        info.value,
        path,
        "personas[4].tasks",
        f"has {MIN_TASKS - 1} entries",
        f"expected {MIN_TASKS} to {MAX_TASKS}",
    )


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        load_scenarios(tmp_path / "nope.toml")


def test_a_malformed_persona_blocks_only_the_scenarios_that_use_it(tmp_path: Path) -> None:
    path = edited_copy(SCENARIOS_FILE, tmp_path / "scenarios.toml", 'name = "Daniel"', 'name = ""')
    with pytest.raises(DataFileError) as info:
        load_scenarios(path)  # the whole file, as a listing reads it, still reports it
    assert_message(info.value, path, "personas[7].name", "is empty")
    shipped = [s.id for s in select_scenarios(7)]
    assert [s.id for s in select_scenarios(7, path=path)] == shipped, "the same spread order"
    chosen = scenarios_by_ids(["nurse-evening", "founder-morning"], path=path)
    assert [s.id for s in chosen] == ["nurse-evening", "founder-morning"]
    with pytest.raises(DataFileError) as asked:
        scenarios_by_ids(["nurse-evening", "teacher-morning"], path=path)
    assert_message(asked.value, path, "personas[7].name", "is empty")
    with pytest.raises(DataFileError):
        select_scenarios(DEFAULT_N_SCENARIOS, path=path)  # 12 reaches the eighth persona


def test_a_persona_without_a_readable_id_blocks_every_selection(tmp_path: Path) -> None:
    """Without its id the spread order is unknown, so no selection could be trusted."""
    path = edited_copy(SCENARIOS_FILE, tmp_path / "scenarios.toml", 'id = "teacher"', "id = 7")
    with pytest.raises(DataFileError) as info:
        select_scenarios(1, path=path)
    assert_message(info.value, path, "personas[7].id", "expected a string")


# --- prompts ---------------------------------------------------------------------------------


def test_shipped_prompts_render_for_every_scenario() -> None:
    prompts = load_prompts()
    assert set(prompts) == {"v1", "v2-mentor", "v3-few-shot"}
    assert len({p.content_hash for p in prompts.values()}) == 3
    for prompt, scenario in itertools.product(prompts.values(), load_scenarios()):
        messages = prompt.render_chat(scenario)
        raw = prompt.render_raw(scenario)
        assert [m["role"] for m in messages] == ["system", "user"]
        for text in (*(m["content"] for m in messages), raw):
            assert "{" not in text and "}" not in text
        user = messages[1]["content"]
        for part in (scenario.persona.name, scenario.persona.description, scenario.time_slot.name):
            assert part in user and part in raw
        for task in scenario.tasks:
            assert task.render() in user and task.render() in raw
        assert raw.endswith("Tip:"), "a base model must continue right where the tip starts"
        assert prompt.raw_stop and all(stop.startswith("\n") for stop in prompt.raw_stop)
        # small models, small contexts: about 4 characters a token keeps this under ~600 tokens
        assert len(raw) < 2400 and sum(len(m["content"]) for m in messages) < 2400


def test_few_shot_prompt_has_two_or_three_worked_examples() -> None:
    prompt = get_prompt("v3-few-shot")
    scenario = load_scenarios()[0]
    examples_in_raw = prompt.render_raw(scenario).count("\nTip: ")
    examples_in_chat = prompt.render_chat(scenario)[1]["content"].count("\nTip: ")
    assert 2 <= examples_in_raw <= 3 and 2 <= examples_in_chat <= 3


def test_prompt_hash_changes_with_any_edit_but_not_line_endings(tmp_path: Path) -> None:
    original = get_prompt("v1")
    edited = load_prompt(
        edited_copy(
            PROMPTS_DIR / "v1.toml", tmp_path / "v1.toml", "Write one tip for", "Write a tip for"
        )
    )
    assert edited.content_hash != original.content_hash
    crlf = tmp_path / "crlf" / "v1.toml"
    crlf.parent.mkdir()
    crlf.write_bytes((PROMPTS_DIR / "v1.toml").read_bytes().replace(b"\n", b"\r\n"))
    assert load_prompt(crlf).content_hash == original.content_hash


def test_unknown_placeholder_is_named_with_key_and_line(tmp_path: Path) -> None:
    path = edited_copy(
        PROMPTS_DIR / "v2-mentor.toml",
        tmp_path / "v2-mentor.toml",
        "What should {persona_name} do now?",
        "What should {persona} do now?",
    )
    with pytest.raises(DataFileError) as info:
        load_prompt(path)
    line = line_of(path, "{persona}")
    assert_message(
        info.value,
        path,
        "user",
        f"line {line}",
        "unknown placeholder {persona}",
        *("{" + p + "}" for p in PLACEHOLDERS),
    )


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        pytest.param(
            'version = "v1"',
            'version = "v9"',
            "version",
            "to match the file name",
            id="version-mismatch",
        ),
        pytest.param("raw_stop = [", "stops = [", "stops", "unknown key", id="typo-key"),
        pytest.param(
            "description = \"Plain instruction: the user's context and a request for one "
            'short tip."',
            "description = 3",
            "description",
            "expected a string",
            id="wrong-type",
        ),
        pytest.param(
            "Write one tip for {persona_name}",
            "Write one tip for {persona_name!r}",
            "user",
            "format spec or conversion",
            id="conversion",
        ),
    ],
)
def test_malformed_prompt_files(
    tmp_path: Path, old: str, new: str, where: str, expected: str
) -> None:
    path = edited_copy(PROMPTS_DIR / "v1.toml", tmp_path / "v1.toml", old, new)
    with pytest.raises(DataFileError) as info:
        load_prompts(tmp_path)
    assert_message(info.value, path, where, expected)


def prompts_with_a_broken_one(directory: Path) -> Path:
    for path in PROMPTS_DIR.glob("*.toml"):
        shutil.copy(path, directory / path.name)
    (directory / "x.toml").write_text('version = "x"\nsystem = "unclosed\n', encoding="utf-8")
    return directory


def test_a_malformed_prompt_file_blocks_only_the_runs_that_ask_for_it(tmp_path: Path) -> None:
    directory = prompts_with_a_broken_one(tmp_path)
    assert get_prompt("v1", directory).version == "v1"
    with pytest.raises(DataFileError) as asked:
        get_prompt("x", directory)
    assert_message(asked.value, directory / "x.toml", "line 2", "expected valid TOML")
    listing = list_prompts(directory)
    assert sorted(listing.prompts) == ["v1", "v2-mentor", "v3-few-shot"]
    assert [p.path for p in listing.problems] == [str(directory / "x.toml")]
    assert "x.toml" in listing.problem_lines()[0]
    with pytest.raises(TipbenchError, match=r"unknown prompt version 'v9'.*v3-few-shot, x"):
        get_prompt("v9", directory)


def test_a_prompt_version_is_never_read_from_outside_the_prompts_folder(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    shutil.copy(PROMPTS_DIR / "v1.toml", tmp_path / "prompts" / "v1.toml")
    shutil.copy(PROMPTS_DIR / "v1.toml", tmp_path / "outside.toml")
    with pytest.raises(TipbenchError, match="unknown prompt version '../outside'"):
        get_prompt("../outside", tmp_path / "prompts")


def test_unknown_prompt_version_lists_known_ones() -> None:
    with pytest.raises(
        TipbenchError,
        match=r"unknown prompt version 'v4'.*v1, v2-mentor, "
        r"v3-few-shot",
    ):
        get_prompt("v4")


# --- rubric ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rubric():
    return load_rubric("tip-v1")


def test_rubric_has_three_dimensions_with_five_anchored_levels(rubric) -> None:
    assert rubric.dimension_ids == ("relevance", "actionability", "tone")
    for dim in rubric.dimensions:
        assert [lv.score for lv in dim.levels] == [1, 2, 3, 4, 5]
        assert all(lv.anchor and lv.example for lv in dim.levels)
    assert rubric.flag_ids == ("format_ok", "overlong")
    assert rubric.flag("overlong").longer_than == 200


def test_rubric_page_is_the_rendering_of_the_toml(rubric) -> None:
    # data/rubric.md is generated from the TOML; equality means every anchor, example,
    # check parameter and weight on the page comes from the file.
    page = RUBRIC_PAGE.read_text(encoding="utf-8")
    assert page == render_rubric_markdown(rubric), (
        "data/rubric.md is out of date; regenerate it with `python -m tipbench_lib.core.rubric`"
    )
    for dim in rubric.dimensions:
        for lv in dim.levels:
            assert lv.anchor in page and lv.example in page
    assert f"more than {rubric.flag('overlong').longer_than} characters" in page
    assert "from 2 to 17" in page


def test_every_format_example_in_the_file_gets_its_verdict(rubric) -> None:
    examples = rubric.flag("format_ok").format.examples
    assert examples
    for example in examples:
        checks = rubric.auto_checks(example.text)
        assert checks.flags["format_ok"] == example.passes, (example.text, checks.reasons)
        assert bool(checks.reasons) != example.passes


def test_high_level_example_tips_are_well_formed(rubric) -> None:
    for dim in rubric.dimensions:
        for lv in dim.levels:
            if lv.score >= 4:
                checks = rubric.auto_checks(lv.example)
                assert checks.flags == {"format_ok": True, "overlong": False}, (
                    lv.example,
                    checks.reasons,
                )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sure, block 25 minutes for the budget draft.", "preamble 'sure'"),
        ("OK, block 25 minutes for the budget draft.", "preamble 'ok'"),
        ("Great! Here's a quick tip: block 25 minutes for the draft.", "preamble announcing"),
        ("- Block 25 minutes for the budget draft.", "a list item"),
        ("## Block 25 minutes for the budget draft.", "markdown"),
        ("Block 25 minutes for the `budget` draft.", "markdown"),
        ("Block 25 minutes for the draft.\nThen rest.", "more than one line"),
        ('"Block 25 minutes for the budget draft.', "stray quotation mark"),
        ("Block 25 minutes for {tasks} today.", "unfilled placeholder"),
        ("Block 25 minutes for the draft. Let me know if you need more tips!", "sign-off"),
        ("", "0 sentences"),
    ],
)
def test_auto_checks_flag_ill_formed_tips(rubric, text: str, reason: str) -> None:
    checks = rubric.auto_checks(text)
    assert not checks.flags["format_ok"]
    assert any(reason in r for r in checks.reasons), checks.reasons


def test_auto_checks_accept_plain_tips_and_whole_word_prefixes(rubric) -> None:
    for text in (
        "Okra soup tonight takes 20 minutes; cook it before the quiz at 8.",
        "Surely the quiz can wait until 8; water the seedlings first while it is light.",
        "Block 25 minutes before lunch for the budget draft. It is due tomorrow!",
    ):
        checks = rubric.auto_checks(text)
        assert checks.flags == {"format_ok": True, "overlong": False}, (text, checks.reasons)
        assert checks.char_count == len(text)


def test_overlong_threshold_comes_from_the_file(rubric, tmp_path: Path) -> None:
    limit = rubric.flag("overlong").longer_than
    at_limit = ("Block time for the draft " * 20)[: limit - 1] + "."
    assert not rubric.auto_checks(at_limit).flags["overlong"]
    over = rubric.auto_checks(at_limit[:-1] + "s.")
    assert over.flags["overlong"] and over.char_count == limit + 1
    assert any("overlong" in r for r in over.reasons)
    strict = load_rubric_file(
        edited_copy(RUBRIC_FILE, tmp_path / "tip-v1.toml", "longer_than = 200", "longer_than = 40")
    )
    assert strict.auto_checks("Block 25 minutes for the budget draft now.").flags["overlong"]


def test_format_parameters_come_from_the_file(rubric, tmp_path: Path) -> None:
    two = "Do the quiz now. It is due tomorrow."
    assert rubric.auto_checks(two).flags["format_ok"]
    path = edited_copy(
        RUBRIC_FILE, tmp_path / "tip-v1.toml", "max_sentences = 2", "max_sentences = 1"
    )
    assert not load_rubric_file(path).auto_checks(two).flags["format_ok"]


def composite(rubric, *values: object) -> float:
    return rubric.composite_of(dict(zip(rubric.part_ids, values, strict=True)))


def test_composite_range_and_values(rubric) -> None:
    values = [
        composite(rubric, r, a, t, f, o)
        for r, a, t in itertools.product(range(1, 6), repeat=3)
        for f, o in itertools.product((False, True), repeat=2)
    ]
    assert (min(values), max(values)) == rubric.composite_range == (2.0, 17.0)
    assert composite(rubric, 4, 3, 5, True, False) == 14.0
    assert composite(rubric, 4, 3, 5, False, True) == 11.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 3, 3, True, False), r"relevance must be an integer from 1 to 5.*got 0"),
        ((3, 6, 3, True, False), r"actionability must be an integer from 1 to 5.*got 6"),
        ((3, 3, 2.5, True, False), r"tone must be an integer from 1 to 5.*got 2.5"),
        ((True, 3, 3, True, False), r"relevance must be an integer"),
        ((3, 3, 3, "yes", False), r"format_ok must be true or false"),
        ((3, 3, 3, True, 1), r"overlong must be true or false"),
    ],
)
def test_composite_rejects_out_of_range_inputs(rubric, args: tuple, match: str) -> None:
    with pytest.raises(JudgingError, match=match):
        composite(rubric, *args)


def test_json_schema_accepts_judgments_and_rejects_bad_ones(rubric) -> None:
    schema = rubric.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {"relevance": 4, "actionability": 5, "tone": 3, "format_ok": True, "overlong": False}
    jsonschema.validate(good, schema)
    for bad in (
        {**good, "tone": 6},
        {**good, "relevance": "4"},
        {**good, "note": "x"},
        {k: v for k, v in good.items() if k != "format_ok"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_prompt_text_carries_every_anchor(rubric) -> None:
    text = rubric.prompt_text()
    for dim in rubric.dimensions:
        assert dim.question in text
        assert all(f"{lv.score} = {lv.anchor}" in text for lv in dim.levels)
        assert not any(lv.example in text for lv in dim.levels)
    assert "200 characters" in text
    with_examples = rubric.prompt_text(include_examples=True)
    assert all(lv.example in with_examples for d in rubric.dimensions for lv in d.levels)


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        pytest.param(
            'score = 3\nanchor = "Neutral',
            'score = 2\nanchor = "Neutral',
            "dimensions[2].levels",
            "level 3 is missing; expected one level for each score 1 to 5",
            id="level-missing",
        ),
        pytest.param(
            "longer_than = 200",
            'longer_than = "200"',
            "flags[1].longer_than",
            "expected an integer",
            id="wrong-type",
        ),
        pytest.param(
            "overlong = -1\n", "", "composite.weights.overlong", "missing", id="weight-missing"
        ),
        pytest.param(
            "pattern = '\\n'",
            "pattern = '(unclosed'",
            "flags[0].format.banned_patterns[0].pattern",
            "invalid regular expression",
            id="bad-regex",
        ),
    ],
)
def test_malformed_rubric_files(
    tmp_path: Path, old: str, new: str, where: str, expected: str
) -> None:
    path = edited_copy(RUBRIC_FILE, tmp_path / "tip-v1.toml", old, new)
    with pytest.raises(DataFileError) as info:
        load_rubric_file(path)
    assert_message(info.value, path, where, expected)


def test_rubric_syntax_error_gives_line(tmp_path: Path) -> None:
    path = edited_copy(RUBRIC_FILE, tmp_path / "tip-v1.toml", "[scale]", "[scale")
    with pytest.raises(DataFileError) as info:
        load_rubric_file(path)
    assert_message(info.value, path, f"line {line_of(path, '[scale')}", "expected valid TOML")


def test_unknown_rubric_version_lists_known_ones(tmp_path: Path) -> None:
    shutil.copy(RUBRIC_FILE, tmp_path / "tip-v1.toml")
    with pytest.raises(TipbenchError, match=r"unknown rubric version 'tip-v9'.*tip-v1"):
        load_rubric("tip-v9", tmp_path)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('  "Block 25 minutes for the draft."\n', "Block 25 minutes for the draft."),
        ("“Block 25 minutes for the draft.”", "Block 25 minutes for the draft."),
        ("'Block 25 minutes.'", "Block 25 minutes."),
        ('"Say "no" to the extra meeting today."', '"Say "no" to the extra meeting today."'),
        ("Sure! **Block** 25 minutes.", "Sure! **Block** 25 minutes."),
        ("\n\n  Block 25 minutes.  \n", "Block 25 minutes."),
        ('"', '"'),
    ],
)
def test_clean_tip_strips_only_whitespace_and_wrapping_quotes(raw: str, clean: str) -> None:
    assert clean_tip(raw) == clean
