"""The judge card's parts that must run in the browser: bring a new card into view, and answer a
pairwise card with one key.

marimo renders ``mo.Html`` as HTML only: a ``<script>`` inside it never runs
(docs/architecture.md, section 10). What marimo does run is an anywidget's ES module, once per
view, whenever the cell's output shows a new widget; and a message the module sends reaches the
widget's Python callbacks while the kernel takes it, before any cell re-runs, as a form's
``on_change`` does. So each card carries one small widget (:class:`CardWidget`), made with the
card:

- **into view**: when the card on screen is a different one from the last (the judge saved or
  picked a tip to revise), and its top is off screen, the page scrolls to it. Saving with
  Ctrl+Enter from the note box below the tip left the next tip's top above the screen (issue 22).
- **answers** (pairwise cards): three buttons and a note box; the keys ←/A/1 (left better),
  →/B/2 (right better), ↓/T/3 (tie) answer from anywhere on the page except while typing in a
  box (the note, the revise list), and with no modifier held, so browser shortcuts keep working.
  The answer goes to Python with the card's key and the note in one message; a card answers
  once (a second key press before the next card shows is dropped), and Python refuses an
  answer naming another card than the one it served (:func:`tipbench_lib.judge.app.submit_pair`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
const LABELS = {left: "A · left is better", tie: "Tie", right: "B · right is better"};
const HINTS = {left: "← or A or 1", tie: "↓ or T or 3", right: "→ or B or 2"};

function typing(event) {
  // marimo's inputs live in shadow roots: the path's first node is the real target.
  const node = event.composedPath()[0];
  if (!node || !node.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName) || node.isContentEditable;
}

function intoView(el, card) {
  const seen = globalThis.__tbCardOnScreen;
  globalThis.__tbCardOnScreen = card;
  if (seen === undefined || seen === card) return;
  requestAnimationFrame(() => {
    const top = el.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight / 2) el.scrollIntoView({block: "start"});
  });
}

function answers(model, el, card) {
  const panel = document.createElement("div");
  panel.className = "tb-answers";
  const row = document.createElement("div");
  row.className = "tb-answer-row";
  const buttons = {};
  for (const choice of ["left", "tie", "right"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tb-answer";
    button.dataset.choice = choice;
    const label = document.createElement("b");
    label.textContent = LABELS[choice];
    const hint = document.createElement("span");
    hint.className = "tb-key";
    hint.textContent = HINTS[choice];
    button.append(label, hint);
    row.append(button);
    buttons[choice] = button;
  }
  const note = document.createElement("textarea");
  note.className = "tb-note";
  note.rows = 2;
  note.maxLength = model.get("note_limit");
  note.placeholder = "optional note (Esc leaves the box; keys answer only outside it)";
  note.value = model.get("note");
  panel.append(row, note);
  el.append(panel);
  let sent = false;
  const answer = (choice) => {
    if (sent) return;
    sent = true;
    for (const [name, button] of Object.entries(buttons)) {
      button.disabled = true;
      if (name === choice) button.classList.add("tb-chosen");
    }
    model.send({type: "answer", card, choice, note: note.value});
  };
  for (const [choice, button] of Object.entries(buttons)) {
    button.addEventListener("click", () => answer(choice));
  }
  const onKey = (event) => {
    if (!el.isConnected || globalThis.__tbAnswering !== card) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event)) {
      if (event.key === "Escape") event.composedPath()[0].blur();
      return;
    }
    const choice = KEYMAP[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!choice) return;
    event.preventDefault();
    answer(choice);
  };
  globalThis.__tbAnswering = card;
  // When this card began to take answers (bench/judge_latency.py reads it).
  globalThis.__tbAnswerReady = {card, at: performance.timeOrigin + performance.now()};
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

function render({model, el}) {
  const card = model.get("card");
  el.dataset.card = card;
  if (model.get("scroll")) intoView(el, card);
  if (model.get("answers")) return answers(model, el, card);
}

export default {render};
"""

CSS = """
.tb-answers { margin-top: 10px; }
.tb-answer-row { display: flex; gap: 12px; }
.tb-answer { flex: 1; display: flex; flex-direction: column; align-items: center; gap: 2px;
  padding: 10px 8px; border-radius: 8px; border: 1px solid #c9ced6; background: #fff;
  cursor: pointer; font: inherit; font-size: 1rem; color: #111; }
.tb-answer:hover:not(:disabled) { background: #f1f5f9; border-color: #64748b; }
.tb-answer.tb-chosen { background: #dcfce7; border-color: #16a34a; }
.tb-answer:disabled { cursor: default; }
.tb-key { font-size: .8rem; color: #555; }
.tb-note { width: 100%; box-sizing: border-box; margin-top: 10px; padding: 6px 8px;
  border-radius: 6px; border: 1px solid #c9ced6; font: inherit; resize: vertical; }
"""


@functools.cache
def _widget_class() -> type:
    """The anywidget class, made once (anywidget is imported here: the command-line judge never
    needs it)."""
    import anywidget
    import traitlets

    class CardWidget(anywidget.AnyWidget):
        _esm = ESM
        _css = CSS
        card = traitlets.Unicode().tag(sync=True)
        answers = traitlets.Bool(False).tag(sync=True)
        scroll = traitlets.Bool(True).tag(sync=True)
        note = traitlets.Unicode("").tag(sync=True)
        note_limit = traitlets.Int(NOTE_LIMIT).tag(sync=True)

    return CardWidget


def card_widget(
    card_key: str,
    *,
    on_answer: Callable[[dict[str, Any]], None] | None = None,
    note: str = "",
) -> Any:
    """The widget a card carries (module docstring): put at the card's top, it brings the card
    into view; with ``on_answer`` it is the answer panel instead (placed below the tips, so it
    leaves scrolling to the one at the top): buttons and keys, and ``on_answer`` called with the
    page's message (``card``, ``choice``, ``note``; unchecked: see :func:`answer_problems`)."""
    import marimo as mo

    answers = on_answer is not None
    widget = _widget_class()(
        card=card_key, answers=answers, scroll=not answers, note=note[:NOTE_LIMIT]
    )
    if on_answer is not None:

        def take(_widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("type") == "answer":
                on_answer(content)

        widget.on_msg(take)
    return mo.ui.anywidget(widget)


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
