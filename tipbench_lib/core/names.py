"""The names users give (experiments, judge ids): checked before anything is created with them.

A name becomes an MLflow experiment, a journal folder and part of file names. MLflow's SQL store
keeps experiment names in a 256-character column and most file systems allow 255 bytes per file
name, so a name that is too long would fail halfway: after the MLflow experiment exists but before
its journal folder does. Checking here, before the first side effect, turns that into a refusal
that names the limit and leaves nothing behind.

The limits leave room for what is added to a name on disk (a short hash, a suffix) and are counted
in characters, because that is what a user counts.
"""

from __future__ import annotations

import unicodedata

from tipbench_lib.core.errors import JudgingError, TipbenchError

MAX_EXPERIMENT_CHARS = 200
"""Longest experiment name accepted (MLflow's column holds 256)."""

MAX_JUDGE_ID_CHARS = 64
"""Longest judge id accepted: it is a person's initials or a model name, shown on every card."""


class InvalidNameError(TipbenchError):
    """A name the user chose cannot be stored; the message says which limit it breaks."""


class MissingJudgeIdError(InvalidNameError, JudgingError):
    """No judge id was given: a name that cannot be stored, and a score that would have no
    owner (the judge phase catches it as a :class:`~tipbench_lib.core.errors.JudgingError`)."""


def check_name(value: str, *, what: str, option: str, limit: int) -> str:
    """``value`` unchanged when it may be used, else an error naming the problem and the fix.

    The name is not trimmed or normalised: it is how MLflow already knows the experiment. Control
    characters (a pasted newline or tab) are refused: they cannot be typed back to reach the same
    experiment, and they break the one-line summaries built from the name.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidNameError(f"the {what} is empty; give one with {option}")
    name = value
    if len(name) > limit:
        raise InvalidNameError(
            f"the {what} is {len(name)} characters long; the limit is {limit}. "
            f"Choose a shorter {option} (nothing was created)"
        )
    control = sorted({c for c in name if unicodedata.category(c) == "Cc"})
    if control:
        shown = ", ".join(repr(c) for c in control)
        raise InvalidNameError(
            f"the {what} {name!r} contains control characters ({shown}); "
            f"use letters, digits, spaces and punctuation in {option}"
        )
    return name


def check_experiment(name: str) -> str:
    """An experiment name fit for MLflow and the journal (at most ``MAX_EXPERIMENT_CHARS``)."""
    return check_name(
        name, what="experiment name", option="--experiment", limit=MAX_EXPERIMENT_CHARS
    )


def check_judge_id(judge_id: str) -> str:
    """The judge id as scores record it (surrounding spaces dropped), fit for the journal's file
    names (at most ``MAX_JUDGE_ID_CHARS``).

    The one check of a judge id, for the app, the command line and imported files alike. An empty
    id is refused because scores must have an owner; unlike an experiment name, a judge id is
    trimmed, since every caller records the id without its surrounding spaces.
    """
    if not isinstance(judge_id, str) or not judge_id.strip():
        raise MissingJudgeIdError(
            "a judge id is needed (e.g. your initials) so scores have an owner; "
            "give one with --judge-id"
        )
    return check_name(
        judge_id.strip(), what="judge id", option="--judge-id", limit=MAX_JUDGE_ID_CHARS
    )
