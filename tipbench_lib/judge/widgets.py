"""The judge app's part that must run in the browser: bring a new card into view, and answer a
pairwise card with one key.

marimo renders ``mo.Html`` as HTML only: a ``<script>`` inside it never runs
(docs/architecture.md, section 10). What marimo does run is an anywidget's ES module, once per
view; and a message the module sends reaches the widget's Python callbacks while the kernel takes
it, before any cell re-runs, as a form's ``on_change`` does. So the app holds one small widget
(:func:`card_keys`), made once when the app starts, in a cell of its own: nothing of it is built
or sent per card, which keeps it off the submit path (a widget made with each card made the
rubric card's submit → next card 1.42× as long in the page: bench/judge_latency.py, 12 cards,
the two revisions side by side). Its
module watches the page for the card (``.tb-card``, its ``data-candidate``):

- **into view**: when the card on screen is a different one from the last (the judge saved or
  picked one to revise) and the card view's top is off screen, the page scrolls to it. Saving
  with Ctrl+Enter from the note box below the tip left the next tip's top above the screen
  (issue 22).
- **answers** (pairwise mode): the keys ←/A/1 (left better), →/B/2 (right better), ↓/T/3 (tie)
  answer from anywhere on the page except while typing in a box (the note, the revise list),
  and only with no modifier held, so browser shortcuts keep working; a click on one of the
  card's answer buttons (:func:`tipbench_lib.judge.cards.answers_html`) does the same. The
  answer goes to Python with the card's pair id and the note box's text in one message; a card
  answers once (a second key before the next card shows is dropped; a card shown again, as after
  a refused answer, takes a new one), and Python refuses an answer naming another card than the
  one it served (:func:`answer_problems`, :func:`tipbench_lib.judge.app.submit_pair`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHOICES = ("left", "right", "tie")
"""What an answer may say: the side shown on the left is better, the right one, or neither."""

KEYS = {"left": ("←", "A", "1"), "right": ("→", "B", "2"), "tie": ("↓", "T", "3")}
"""The keys per answer, as the card shows them (the module maps the same keys)."""

NOTE_LIMIT = 2000
"""The longest note a pairwise answer keeps (the box stops there too)."""

ESM = """
const KEYMAP = {ArrowLeft: "left", a: "left", "1": "left",
                ArrowRight: "right", b: "right", "2": "right",
                ArrowDown: "tie", t: "tie", "3": "tie"};

function typing(event) {
  // marimo's inputs live in shadow roots: the path's first node is the real target.
  const node = event.composedPath()[0];
  if (!node || !node.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName) || node.isContentEditable;
}

function render({model, el}) {
  const answers = model.get("answers");
  let seenId = null, seenShown = null, sent = null;
  const now = () => performance.timeOrigin + performance.now();

  // marimo patches a cell's new output into the old DOM: the card, its buttons and its note box
  // may be the same elements as before, keeping what was set on them. So a card is told apart
  // by its id and by the showing Python stamps on it (data-shown), and a new showing gets its
  // buttons back and its note box as the HTML says.
  const check = () => {
    const card = document.querySelector(".tb-card");
    if (!card) return;
    const id = card.getAttribute("data-candidate");
    const shown = card.getAttribute("data-shown") || id;
    if (shown === seenShown && id === seenId) return;
    seenShown = shown;
    if (answers) {
      sent = null;
      for (const button of document.querySelectorAll("button.tb-answer")) {
        button.disabled = false;
        button.classList.remove("tb-chosen");
      }
      const note = document.querySelector("textarea.tb-note");
      if (note) note.value = note.defaultValue;
      globalThis.__tbAnswerReady = {card: id, at: now()};
    }
    if (id === seenId) return;
    const first = seenId === null;
    seenId = id;
    if (first) return;
    const top = document.querySelector(".tb-progress") || card;
    const box = top.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight / 2) top.scrollIntoView({block: "start"});
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {subtree: true, childList: true, attributes: true,
                                   attributeFilter: ["data-candidate", "data-shown"]});
  check();
  if (!answers) return () => observer.disconnect();

  const answer = (choice) => {
    const card = document.querySelector(".tb-pair");
    if (!card) return;
    const id = card.getAttribute("data-candidate");
    if (sent === id) return;
    sent = id;
    for (const button of document.querySelectorAll("button.tb-answer")) {
      button.disabled = true;
      if (button.dataset.choice === choice) button.classList.add("tb-chosen");
    }
    const note = document.querySelector("textarea.tb-note");
    model.send({type: "answer", card: id, choice, note: note ? note.value : ""});
  };
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event)) {
      if (event.key === "Escape") event.composedPath()[0].blur();
      return;
    }
    const choice = KEYMAP[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!choice || !document.querySelector(".tb-pair")) return;
    event.preventDefault();
    answer(choice);
  };
  const onClick = (event) => {
    const button = event.composedPath().find((node) => node.classList &&
                                             node.classList.contains("tb-answer"));
    if (button && !button.disabled) answer(button.dataset.choice);
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  return () => {
    observer.disconnect();
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("click", onClick);
  };
}

export default {render};
"""


@functools.cache
def _widget_class() -> type:
    """The anywidget class, made once (anywidget is imported here: the command-line judge never
    needs it)."""
    import anywidget
    import traitlets

    class CardKeys(anywidget.AnyWidget):
        _esm = ESM
        answers = traitlets.Bool(False).tag(sync=True)

    return CardKeys


@dataclass
class CardKeys:
    """The app's one widget (module docstring) and where its answers go: the card cell sets
    :attr:`answer` to the handler of the card it shows (None: no pairwise card on screen)."""

    element: Any
    answer: Callable[[dict[str, Any]], None] | None = field(default=None)


def card_keys(*, answers: bool) -> CardKeys:
    """The widget, made once when the app starts; ``answers``: pairwise mode's keys and buttons."""
    import marimo as mo

    widget = _widget_class()(answers=answers)
    keys = CardKeys(mo.ui.anywidget(widget))

    def take(_widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "answer" and keys.answer:
            keys.answer(content)

    widget.on_msg(take)
    return keys


def answer_problems(content: dict[str, Any], card_key: str) -> list[str]:
    """Why a message from the page is no answer to the card ``card_key`` (empty: it is one).

    The page is not trusted: any client of the app's server can send a message."""
    problems = []
    if content.get("card") != card_key:
        problems.append("that answer was for another card (the page had not caught up)")
    if content.get("choice") not in CHOICES:
        problems.append(f"the answer must be one of {', '.join(CHOICES)}")
    note = content.get("note", "")
    if not isinstance(note, str) or len(note) > NOTE_LIMIT:
        problems.append(f"the note must be text of at most {NOTE_LIMIT} characters")
    return problems
