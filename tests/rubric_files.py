"""A researcher's second rubric, written as one TOML file: what "a new rubric without code" means.

``brief-v1`` differs from tip-v1 in everything a rubric can change: two dimensions (clarity and
kindness) on a 1-7 scale, one flag of its own (``too_long``, checked automatically), and other
weights, so the composite runs from 1 to 28 instead of 2 to 17.
"""

from __future__ import annotations

from pathlib import Path

BRIEF = "brief-v1"
BRIEF_WEIGHTS = {"clarity": 3.0, "kindness": 1.0, "too_long": -3.0}
BRIEF_RANGE = (1.0, 28.0)
TOO_LONG_CHARS = 90


def _levels(examples: list[tuple[str, str]]) -> str:
    return "".join(
        f'\n[[dimensions.levels]]\nscore = {score}\nanchor = "{anchor}"\nexample = "{example}"\n'
        for score, (anchor, example) in enumerate(examples, start=1)
    )


CLARITY = [
    ("Nothing to do can be read from it.", "Life is a journey."),
    ("A topic, but no action.", "Timesheets matter."),
    ("A vague action.", "Get organised with your timesheets."),
    ("An action, unclear which task.", "Finish something small tonight."),
    ("A clear action on one task.", "Submit your timesheets."),
    ("A clear action with a moment.", "Submit your timesheets tonight."),
    ("A clear first step, a moment and a time box.", "Open the timesheet form now for 15 minutes."),
]
KINDNESS = [
    ("Shaming or rude.", "You failed again."),
    ("Nagging.", "Stop putting it off!!"),
    ("Cold.", "Timesheets are due. Do them."),
    ("Neutral.", "The timesheets are due tomorrow."),
    ("Polite.", "Please submit your timesheets tonight."),
    ("Warm.", "A quick 15 minutes on timesheets, then your evening is free."),
    ("Warm and encouraging.", "You have got this: 15 minutes and tomorrow starts light."),
]

BRIEF_TEXT = (
    f'''# A rubric of its own: two dimensions on 1-7, one flag, other weights.
version = "{BRIEF}"
title = "Brief, clear and kind tips"
summary = "Is the tip clear about what to do, and is it kind to the person reading it?"

[scale]
min = 1
max = 7

[[dimensions]]
id = "clarity"
name = "Clarity"
question = "Is it immediately clear what the user should do, and when?"
'''
    + _levels(CLARITY)
    + """
[[dimensions]]
id = "kindness"
name = "Kindness"
question = "Does it speak to the user kindly, as a person?"
"""
    + _levels(KINDNESS)
    + f"""
[[flags]]
id = "too_long"
name = "Too long"
description = "Longer than a phone notification shows in one piece."
longer_than = {TOO_LONG_CHARS}

[composite]
description = "Clarity counts three times as much as kindness; a tip too long loses 3 points."
[composite.weights]
clarity = 3
kindness = 1
too_long = -3
"""
)


def write_brief_rubric(data_dir: Path) -> Path:
    """``rubric/brief-v1.toml`` in a user's data directory (``--data-dir`` / ``TIPBENCH_DATA``)."""
    folder = data_dir / "rubric"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{BRIEF}.toml"
    path.write_text(BRIEF_TEXT, encoding="utf-8")
    return path


def brief_scores(clarity: int, kindness: int, too_long: bool) -> dict[str, int | bool]:
    return {"clarity": clarity, "kindness": kindness, "too_long": too_long}


def brief_composite(clarity: int, kindness: int, too_long: bool) -> float:
    """The composite brief-v1's weights give, written out independently of tipbench."""
    return 3.0 * clarity + 1.0 * kindness - 3.0 * too_long
