"""Names users choose: refused with the limit named, or accepted exactly as given."""

from __future__ import annotations

import pytest

from tipbench_lib.core.names import (
    MAX_EXPERIMENT_CHARS,
    MAX_JUDGE_ID_CHARS,
    InvalidNameError,
    check_experiment,
    check_judge_id,
)


def test_names_up_to_the_limit_pass_unchanged() -> None:
    for name in (" tips nov ", "実験", "a/b", "x" * MAX_EXPERIMENT_CHARS, "نام\u200cها"):
        assert check_experiment(name) == name  # not trimmed: MLflow knows it by these characters
    assert check_judge_id("ana") == "ana"
    assert check_judge_id("j" * MAX_JUDGE_ID_CHARS) == "j" * MAX_JUDGE_ID_CHARS


@pytest.mark.parametrize(
    ("check", "value", "needle"),
    [
        (check_experiment, "x" * (MAX_EXPERIMENT_CHARS + 1), f"limit is {MAX_EXPERIMENT_CHARS}"),
        (check_experiment, "", "empty"),
        (check_experiment, "two\nlines", "control characters"),
        (check_judge_id, "j" * (MAX_JUDGE_ID_CHARS + 1), f"limit is {MAX_JUDGE_ID_CHARS}"),
        (check_judge_id, " ", "--judge-id"),
    ],
)
def test_names_that_cannot_be_stored_are_refused_with_the_reason(check, value, needle) -> None:
    with pytest.raises(InvalidNameError, match=needle):
        check(value)
