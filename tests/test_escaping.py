"""Text from data through marimo's real markdown renderer: it must come out as the same text.

``mo.md`` turns HTML, markdown images and links, bare URLs, ``$math$`` and ``:emoji:`` into
markup; :func:`md_text` must leave the renderer nothing to turn into anything but text.
"""

from __future__ import annotations

from html.parser import HTMLParser

import marimo as mo
import pytest

from tipbench_lib.core.escaping import html_text, md_text

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
