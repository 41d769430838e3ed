"""Text from data through marimo's real markdown renderer: it must come out as the same text.

``mo.md`` turns HTML, markdown images and links, bare URLs, ``$math$`` and ``:emoji:`` into
markup; :func:`md_text` must leave the renderer nothing to turn into anything but text.
"""

from __future__ import annotations

import shlex
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import marimo as mo
import pytest

from tipbench_lib.core.escaping import html_text, md_text, shell_command

ROOT = Path(__file__).resolve().parents[1]

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "![pixel](http://evil.example/p.png)",
    "[click](http://evil.example)",
    "<http://evil.example>",
    "http://evil.example/path and www.evil.example",
    "mail x@evil.example",
    "$x^2$ and $$y$$",
    ":smile: :warning:",
    "**bold** _it_ `code` ~~gone~~ ==mark==",
    "# heading",
    "- item\n1. item\n> quote\n    indented code\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "<script>alert(1)</script></span><b>x</b>",
    "a & b &amp; &#60; \\* \\",
    "model:q4_K_M | v1 · s001",
    "実験 テスト",
]


class _Rendered(HTMLParser):
    """The tags and the text a browser would show for an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _render(markdown: str) -> _Rendered:
    parsed = _Rendered()
    parsed.feed(mo.md(markdown).text)
    return parsed


@pytest.mark.parametrize("value", HOSTILE)
def test_data_through_mo_md_stays_the_same_text(value: str) -> None:
    rendered = _render(f"**Name:** {md_text(value)}")
    assert set(rendered.tags) <= {"span", "strong", "br"}, rendered.tags
    assert rendered.tags.count("strong") == 1  # only the notebook's own markup
    assert "".join(rendered.text) == f"Name: {value}"


def test_without_escaping_the_same_values_become_markup() -> None:
    """The check above can fail: unescaped, these render images, links, math and headings."""
    tags = {tag for value in HOSTILE for tag in _render(value).tags}
    assert {"img", "a", "marimo-tex", "h1", "code", "strong", "script"} <= tags


def test_html_text_escapes_for_elements_and_attributes() -> None:
    assert html_text("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    assert html_text(None) == "" and html_text(3) == "3"


# -- commands printed for the user to run (issue 17, finding 6) ---------------------------------

SHELL_HOSTILE = ["a b", "x; touch pwned", "it's", "$(id)", "-rf", "", "a\nb", "実験", "a\\b"]


@pytest.mark.parametrize("name", [*SHELL_HOSTILE, "`id`"])
def test_shell_command_quotes_each_word_for_a_shell(name: str) -> None:
    words = ["tipbench", "judge", "--experiment", name, "--llm-judge", "MODEL"]
    assert shlex.split(shell_command(*words)) == words
    assert shell_command("tipbench", "judge", "--llm-judge", "MODEL").endswith("MODEL")


def commands_in(text: str) -> list[list[str]]:
    """The commands a message shows between backticks, split as a shell would split them."""
    return [shlex.split(part) for i, part in enumerate(text.split("`")) if i % 2]


@pytest.mark.parametrize("name", SHELL_HOSTILE)
def test_printed_commands_split_back_into_the_words_meant(name: str) -> None:
    from tipbench_lib.core.experiment import rubric_conflict
    from tipbench_lib.core.records import RubricRef
    from tipbench_lib.tracking.status import nothing_judged

    hint = nothing_judged(name, {"candidates": 2, "cells": 1})
    assert commands_in(hint) == [
        ["tipbench", "judge", "--experiment", name, "--llm-judge", "MODEL"],
        ["make", "judge", f"EXPERIMENT={name}", "JUDGE=ID"],
        ["tipbench", "judge", "--export"],
        ["--apply"],
        ["tipbench", "compare", "--experiment", name, "--out", "DIR"],
    ]
    conflict = rubric_conflict("e", RubricRef(name, name, "h1"), RubricRef("b", "b", "h2"), "x")
    assert f"or pass {shell_command('--rubric', name)})" in conflict


def test_a_missing_experiment_names_a_command_that_runs(mlflow_client) -> None:
    from tipbench_lib.core.errors import TrackingError
    from tipbench_lib.tracking.experiment import find_experiment

    name = "no such; touch pwned"
    with pytest.raises(TrackingError) as caught:
        find_experiment(mlflow_client, name)
    assert commands_in(str(caught.value)) == [["tipbench", "collect", "--experiment", name, "..."]]


def test_make_judge_passes_a_hostile_name_as_one_argument(tmp_path: Path) -> None:
    """The printed ``make judge EXPERIMENT=...`` hint, run: the Makefile hands the names to the
    app as arguments, and no quote in them reaches its shell as syntax."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    seen = tmp_path / "argv"
    marimo = venv / "bin" / "marimo"
    marimo.write_text(f'#!/bin/sh\nprintf "%s\\0" "$@" > {shlex.quote(str(seen))}\n')
    marimo.chmod(0o755)
    (venv / ".tipbench-installed").touch()
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    planted = tmp_path / "pwned"
    experiment = f"x'; touch {planted}; echo '"
    judge = f"j`touch {planted}` \\"  # make itself expands $(...) in a variable's value
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "judge",
            f"VENV={venv}",
            f"TOKEN_FILE={token}",
            f"EXPERIMENT={experiment}",
            f"JUDGE={judge}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    argv = seen.read_text().split("\0")[:-1]
    assert argv[argv.index("--") + 1 :] == ["--experiment", experiment, "--judge-id", judge]
    assert not planted.exists()
