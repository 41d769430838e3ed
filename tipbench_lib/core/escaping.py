"""Text from data shown as text: one place that escapes for HTML, marimo's ``mo.md`` and a shell.

Model names, prompt versions, judge ids, experiment names and error messages come from files,
servers and URLs that anyone may have written; shown through ``mo.md`` unescaped, a name like
``<img src=x onerror=...>`` or ``[click](https://evil)`` renders as a real image or link.

HTML escaping is not enough for ``mo.md``: markdown turns ``![x](url)`` into an ``<img>`` and
``[x](url)`` into a link without a single ``<``, and marimo's markdown also reads ``$...$`` as
LaTeX, ``:name:`` as an emoji and bare ``www.`` addresses as links. So :func:`md_text` writes every
ASCII punctuation character as a numeric character reference: markdown gives entities no
meaning, so none of its syntax can start, and the browser shows the original character.

The same names end up in the commands tipbench prints for the user to run; :func:`shell_command`
quotes them for a shell.
"""

from __future__ import annotations

import html
import shlex
import string
from typing import Any

_MD_ENTITIES = {ord(c): f"&#{ord(c)};" for c in string.punctuation}


def html_text(value: Any) -> str:
    """``value`` as literal text inside HTML (elements and quoted attributes); None is empty."""
    return html.escape("" if value is None else str(value), quote=True)


def md_text(value: Any) -> str:
    """``value`` as literal text inside ``mo.md``: no markup, link, image, math or emoji can form.

    Line breaks become ``<br>`` so a line of data can neither start a block (a heading, a
    list, an indented code block) nor end the sentence it sits in.
    """
    text = "" if value is None else str(value)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(line.translate(_MD_ENTITIES) for line in lines)


def shell_command(*words: object) -> str:
    """A command for the user to run, each word quoted for a POSIX shell where it needs it.

    Every command tipbench prints as a hint (``tipbench judge --experiment NAME ...``, ``make
    judge EXPERIMENT=NAME``) goes through here: names come from users and stores, and an
    experiment called ``a b`` or ``x; touch f`` printed bare would, copied into a terminal, run
    something else than the hint says. Placeholders in capitals (``MODEL``, ``DIR``) need no
    quotes and get none.
    """
    return shlex.join(str(word) for word in words)
