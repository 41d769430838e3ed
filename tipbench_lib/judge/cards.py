"""The judging card: the scenario, the tip as literal text, the rubric, the progress bar, and the
form a judge scores it with.

A tip is model output and a scenario comes from a file, so every string is escaped here, in one
tested place: ``<script>`` or markdown in a tip must show as the characters the model wrote.
The escaping itself is :func:`tipbench_lib.core.escaping.html_text`, shared with the notebooks.

The form (:func:`card_form`) and the page around it (:func:`card_page`) are built here too, so the
judge notebook stays a few lines per cell and the pre-selection rule (:func:`preselected`) is
tested without a browser. marimo is imported where a form is built: the command-line judge never
needs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tipbench_lib.core.escaping import html_text as esc
from tipbench_lib.core.escaping import md_text
from tipbench_lib.stats.anytime import PROJECTED, chance_text

if TYPE_CHECKING:
    import marimo as mo

    from tipbench_lib.core.rubric import Rubric
    from tipbench_lib.judge.pair_session import PairCard, PairSide
    from tipbench_lib.judge.session import Card, JudgingProgress

CSS = """
<style>
.tb-scenario { background: var(--slate-2, #f6f7f9); border: 1px solid var(--slate-6, #dde1e6);
  border-radius: 10px; padding: 14px 18px; font-size: 0.95rem; line-height: 1.45; }
.tb-scenario h3 { margin: 0 0 4px 0; font-size: 1.15rem; }
.tb-scenario .tb-when { color: var(--slate-11, #555); margin: 8px 0; }
.tb-scenario ul { margin: 6px 0 0 0; padding-left: 1.1rem; }
.tb-scenario li { margin: 2px 0; }
.tb-label { text-transform: uppercase; letter-spacing: .06em; font-size: .72rem;
  color: var(--slate-11, #666); margin-bottom: 4px; }
.tb-tip { white-space: pre-wrap; word-break: break-word; font-family: ui-sans-serif, system-ui,
  sans-serif; font-size: 1.35rem; line-height: 1.5; margin: 0; padding: 16px 20px;
  background: var(--amber-2, #fffbeb); border-left: 5px solid var(--amber-9, #f59e0b);
  border-radius: 8px; color: var(--slate-12, #111); }
.tb-meta { color: var(--slate-11, #666); font-size: .85rem; margin-top: 6px; }
.tb-head { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
.tb-bar { height: 8px; background: var(--slate-4, #e5e7eb); border-radius: 4px; overflow: hidden; }
.tb-bar > div { height: 100%; background: var(--grass-9, #22a06b); }
.tb-rubric { font-size: .85rem; line-height: 1.35; margin-top: 8px; }
.tb-rubric ol { margin: 2px 0 8px 0; padding-left: 0; list-style: none; }
.tb-rubric ul { margin: 2px 0; padding-left: 1.1rem; }
.tb-status { border: 1px solid var(--slate-6, #dde1e6); border-radius: 10px; padding: 10px 14px; }
.tb-status td { padding: 2px 16px 2px 0; }
.tb-pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.tb-pair .tb-tip { font-size: 1.2rem; height: 100%; box-sizing: border-box; }
.tb-side { display: flex; flex-direction: column; }
.tb-answers { margin-top: 4px; }
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
.tb-scenario-wide { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
  gap: 0 24px; }
</style>
"""


def scenario_html(card: Card | PairCard, *, wide: bool = False) -> str:
    """The user the tip was written for; every string escaped (it came from a file). ``wide``:
    the person beside the tasks, for a pairwise card's full-width scenario."""
    s = card.scenario
    tasks = (
        "".join(f"<li>{esc(t)}</li>" for t in s.task_lines()) or "<li><em>no task list</em></li>"
    )
    revealed = "".join(
        f"<div class='tb-meta'>{esc(k)}: <b>{esc(v)}</b></div>"
        for k, v in getattr(card, "revealed", {}).items()
    )
    person = (
        f"<div><div class='tb-label'>Scenario {esc(s.scenario_id)}</div>"
        f"<h3>{esc(s.persona)}</h3><div>{esc(s.persona_description)}</div>"
        f"<div class='tb-when'><b>{esc(s.time_slot)}</b> — {esc(s.time_slot_description)}</div>"
        "</div>"
    )
    todo = f"<div><div class='tb-label'>Tasks</div><ul>{tasks}</ul>{revealed}</div>"
    kind = "tb-scenario tb-scenario-wide" if wide else "tb-scenario"
    return f"{CSS}<div class='{kind}'>{person}{todo}</div>"


def auto_text(card: Card, rubric: Rubric) -> str:
    """The automatic checks' verdicts in words, named as the rubric names its flags."""
    verdicts = [f"{rubric.flag(f).name}: {'yes' if v else 'no'}" for f, v in card.auto.items()]
    return ", ".join([*verdicts, f"{card.char_count} chars"])


def tip_html(card: Card, rubric: Rubric) -> str:
    """The tip exactly as written: escaped inside a pre-wrap block, so nothing renders or runs."""
    return (
        f"{CSS}<div class='tb-card' data-candidate='{esc(card.candidate_id)}'>"
        f"<div class='tb-head'><div class='tb-label'>Tip {card.position} of {card.total}</div>"
        f"<div class='tb-meta'>automatic checks: {esc(auto_text(card, rubric))}</div>"
        f"</div><pre class='tb-tip'>{esc(card.text)}</pre></div>"
    )


def levels_html(rubric: Rubric) -> str:
    """The rubric's dimensions with their anchored levels, for a judge to read beside the card."""
    parts = []
    for dim in rubric.dimensions:
        levels = "".join(f"<li><b>{lv.score}</b> {esc(lv.anchor)}</li>" for lv in dim.levels)
        parts.append(
            f"<div class='tb-dim' data-dimension='{esc(dim.id)}'><b>{esc(dim.name)}</b> "
            f"<span class='tb-meta'>{esc(dim.question)}</span><ol>{levels}</ol></div>"
        )
    flags = "".join(
        f"<li><b>{esc(f.name)}</b> ({esc(f.id)}): {esc(f.meaning())}</li>" for f in rubric.flags
    )
    head = (
        f"<div class='tb-label'>Rubric {esc(rubric.version)}: scores "
        f"{rubric.scale_min} to {rubric.scale_max}</div>"
    )
    return f"{CSS}<div class='tb-rubric'>{head}{''.join(parts)}<ul>{flags}</ul></div>"


def progress_html(progress: JudgingProgress) -> str:
    pct = 100 * progress.judged / max(progress.total, 1)
    return (
        f"{CSS}<div class='tb-head'><b class='tb-progress'>{progress.judged} / {progress.total} "
        f"judged</b><span class='tb-meta'>{pct:.0f}%</span></div>"
        f"<div class='tb-bar'><div style='width:{pct:.1f}%'></div></div>"
    )


DECISION_WORDS = {
    "better": "decided: better",
    "worse": "decided: worse",
    "equivalent": "decided: equivalent",
    "out of reach": "out of reach",
    PROJECTED: "given up: out of reach (projected)",
    "undecided": "undecided",
}


def design_warning(status: Mapping[str, Any]) -> str | None:
    """What a design that can decide nothing must say before the first card (None: it can).

    The queue of such a design has nothing to plan from the start (every comparison is out of
    reach at 0 judged), which is not the same as a finished one (:func:`stop_text`)."""
    if status.get("decidable", True):
        return None
    return str(status.get("design_note") or "This design cannot decide any comparison.")


def stop_text(status: dict[str, Any], *, pairwise: bool = False) -> str:
    """The message above a card served beyond the queue (markdown): the design cannot decide
    anything, the judge may stop, or the deciding cards are with other judges."""
    saved = "Your answers are saved" if pairwise else "Your scores are saved"
    warning = design_warning(status)
    if warning is not None:
        given = "answers" if pairwise else "scores"
        return (
            # The note is the library's own sentence of numbers in the mode's terms
            # (stats/adaptive.DesignReach; stats/pair_queue.PairDesignReach for pairs).
            f"**Nothing can be decided here, whatever the {given}.** {warning} "
            f"{saved} and still count in the compare phase's description of the "
            "cells; the cards below come in uniform order."
        )
    if not status["can_stop"]:
        return (
            "**The cards that decide the comparisons now are with other judges.** "
            "Cards below come in uniform order; come back later for queued ones."
        )
    projected = status.get("out_of_reach_projected", 0)
    chance = chance_text(status.get("out_of_reach_projected_chance", 0.0), at_most=projected > 1)
    given_up = (
        f" {projected} of them {'was' if projected == 1 else 'were'} given up by projection: "
        f"judging the cards left would decide {'it' if projected == 1 else 'each'} with "
        f"{chance}."
        if projected
        else ""
    )
    return (
        "**You can stop: every primary comparison is decided or out of reach.**"
        f"{given_up} {saved}. If you go on, the cards below come in uniform "
        "order and only add to the compare phase's analysis."
    )


def status_html(
    status: dict[str, Any], rows: list[dict[str, Any]], order: str, *, pairwise: bool = False
) -> str:
    """Where the primary comparisons stand: the headline, then one line per comparison with its
    decision, the sequence's interval and the cards it may still need. Arms are named only when
    the rows carry them (the session blanks them for a blind judge). ``pairwise``: the interval
    is on the first arm's win share (ties half), not on a score difference."""
    projected = status.get("out_of_reach_projected", 0)
    chance = chance_text(status.get("out_of_reach_projected_chance", 0.0), at_most=projected > 1)
    head = (
        f"{status['decided']} of {status['comparisons']} primary comparisons decided"
        f" · {status['out_of_reach']} out of reach"
        + (
            f" · {projected} given up (projected out of reach: more cards would decide "
            f"{'it' if projected == 1 else 'each'} with {chance})"
            if projected
            else ""
        )
        + f" · about {status['cards_left_estimate']} cards left"
        f" · {status['cards_judged']} {'answered' if pairwise else 'scored'} by people"
        f" ({esc(order)} order)"
    )
    lines = []
    for index, row in enumerate(rows, start=1):
        arms = (
            f"{row['a_model']}/{row['a_prompt']} − {row['b_model']}/{row['b_prompt']}"
            if row.get("a_model")
            else f"comparison {index}"
        )
        lo, hi = row.get("cs_lo"), row.get("cs_hi")
        if lo is None or hi is None:
            interval = "—"
        elif pairwise:
            interval = f"win share [{lo:.2f}, {hi:.2f}]"
        else:
            interval = f"[{lo:+.1f}, {hi:+.1f}]"
        if row["decided"]:
            left = ""
        elif row["decision"] == PROJECTED and row.get("projected_chance") is not None:
            left = f"no more cards ({chance_text(row['projected_chance'])} that more decide)"
        elif row["decision"] in ("out of reach", PROJECTED):
            left = "no more cards"
        else:
            left = f"{row['cards_left_estimate']} cards left"
        lines.append(
            f"<tr data-decision='{esc(row['decision'])}'><td>{esc(arms)}</td>"
            f"<td><b>{esc(DECISION_WORDS.get(row['decision'], row['decision']))}</b></td>"
            f"<td>{esc(interval)}</td><td>{row['n_scenarios']} scenarios</td>"
            f"<td>{esc(left)}</td></tr>"
        )
    warning = design_warning(status)
    design = "" if warning is None else f"<div class='tb-undecidable'><b>{esc(warning)}</b></div>"
    return (
        f"{CSS}<div class='tb-status' data-can-stop='{str(status['can_stop']).lower()}'>"
        f"{design}<div class='tb-meta'><b>{esc(head)}</b></div>"
        f"<table class='tb-meta'>{''.join(lines)}</table></div>"
    )


# -- the form -------------------------------------------------------------------------------------

NOTE = "note"
"""The form's free-text field, beside the rubric's dimension and flag ids."""


def preselected(rubric: Rubric, card: Card, draft: Mapping[str, Any]) -> dict[str, Any]:
    """What the card's form starts with: a score (or None) per dimension, a tick per flag, a note.

    Each comes from the judge's own picks of a refused submit (``draft``: the judge must not pick
    twice), else from the judge's previous score of this tip (revising; a failed LLM attempt is
    no score), else blank, and for a flag from the rubric's automatic check of the tip.
    """
    previous = card.previous if card.previous is not None and card.previous.ok else None
    values: dict[str, Any] = {
        dim: draft.get(dim, previous.scores[dim] if previous else None)
        for dim in rubric.dimension_ids
    }
    for flag in rubric.flag_ids:
        fallback = previous.scores[flag] if previous else bool(card.auto.get(flag))
        values[flag] = bool(draft.get(flag, fallback))
    values[NOTE] = draft.get(NOTE, previous.note if previous else "")
    return values


def form_elements(rubric: Rubric, card: Card, draft: Mapping[str, Any]) -> dict[str, Any]:
    """The form's inputs by id: a radio of anchored levels per dimension, a checkbox per flag
    (its automatic verdict in the label), the note; each set as :func:`preselected` says."""
    import marimo as mo

    start = preselected(rubric, card, draft)
    elements: dict[str, Any] = {}
    for dim in rubric.dimensions:
        options = {f"{lv.score} · {lv.anchor}": lv.score for lv in dim.levels}
        elements[dim.id] = mo.ui.radio(
            options=options,
            value=next((k for k, v in options.items() if v == start[dim.id]), None),
            label=f"**{md_text(dim.name)}** — {md_text(dim.question)}",
        )
    for flag in rubric.flags:
        auto = card.auto.get(flag.id)
        hint = "" if auto is None else f" (automatic check: {'yes' if auto else 'no'})"
        elements[flag.id] = mo.ui.checkbox(
            value=start[flag.id], label=f"{md_text(flag.label)}{hint}"
        )
    elements[NOTE] = mo.ui.text(value=start[NOTE], placeholder="optional note", full_width=True)
    return elements


def card_form(
    rubric: Rubric,
    card: Card,
    draft: Mapping[str, Any],
    on_submit: Callable[[dict[str, Any]], None],
) -> mo.ui.form:
    """The card's form: the dimensions in a grid of up to three columns, the flags in a row, the
    note below. ``on_submit`` gets the submitted value as marimo takes it (its ``on_change``: no
    ``validate=`` round trip, see :mod:`tipbench_lib.judge.app`)."""
    import marimo as mo

    columns = min(len(rubric.dimension_ids), 3)
    layout = (
        "<div style='display:grid;grid-template-columns:"
        f"repeat({columns},minmax(0,1fr));gap:18px'>"
        + "".join(f"<div>{{{d}}}</div>" for d in rubric.dimension_ids)
        + "</div><div style='display:flex;flex-wrap:wrap;gap:28px;margin-top:12px'>"
        + "".join(f"{{{f}}}" for f in rubric.flag_ids)
        + f"</div><div style='margin-top:10px'>{{{NOTE}}}</div>"
    )
    return (
        mo.Html(layout)
        .batch(**form_elements(rubric, card, draft))
        .form(
            submit_button_label="Save and next  (Ctrl+Enter)",
            submit_button_tooltip="Saves to your journal, then MLflow",
            on_change=on_submit,
            bordered=False,
        )
    )


def card_page(card: Card, rubric: Rubric, form: Any, above: Sequence[Any], below: Any) -> Any:
    """The card as the judge sees it: ``above`` (progress, messages), then the scenario beside
    the tip, a revising note, the form and the rubric's levels, then ``below`` (the status).
    The app's widget (:mod:`.widgets`) scrolls a new card's top (the progress bar) into view."""
    import marimo as mo

    revising = (
        mo.md(f"*Revising tip #{card.position}; the journal keeps your earlier score too.*")
        if card.previous is not None and card.previous.ok
        else mo.md("")
    )
    levels = mo.accordion({"The rubric's levels": mo.Html(levels_html(rubric))})
    tip = mo.vstack([mo.Html(tip_html(card, rubric)), revising, form, levels])
    sides = mo.hstack([mo.Html(scenario_html(card)), tip], widths=[2, 5], gap=1.5, align="start")
    return mo.vstack([*above, sides, below], gap=1)


def started_header(experiment: str, judge_id: str, mode: str, form: Any) -> Any:
    """The start form once judging has started: one folded line saying what is judged and by
    whom, the form inside it to start over. Unfolded, the form and its title pushed the first
    pairwise card's answer buttons below the screen at 1280x800."""
    import marimo as mo

    what = "pairs of tips" if mode == "pairwise" else "tips on the rubric"
    label = (
        f"tipbench · judge — {md_text(experiment)} · {what} · judge {md_text(judge_id)} "
        "(open to start over)"
    )
    return mo.accordion({label: form})


def done_page(above: Sequence[Any], can_stop: bool, below: Any, *, pairwise: bool = False) -> Any:
    """What a judge sees once every card has their score (``pairwise``: every pair an answer)."""
    import marimo as mo

    said = (
        "Every pair has your answer; pick a recent one below to revise it."
        if pairwise
        else "Every candidate has your score; pick one below to revise it."
    )
    done = mo.callout(mo.md(f"**All done.** {said}"), "success")
    decided = "*Every primary comparison is decided or out of reach.*" if can_stop else ""
    return mo.vstack([*above, done, mo.md(decided), below])


# -- the pairwise card ----------------------------------------------------------------------------


def side_html(side: PairSide, name: str, label: str) -> str:
    """One tip of a pairwise card, exactly as written (escaped, pre-wrap), under its side's name;
    model and prompt only when unblind."""
    revealed = " · ".join(f"{esc(k)}: {esc(v)}" for k, v in side.revealed.items())
    return (
        f"<div class='tb-side' data-side='{name}' data-candidate='{esc(side.candidate_id)}'>"
        f"<div class='tb-head'><div class='tb-label'>{esc(label)}</div>"
        f"<div class='tb-meta'>{side.char_count} chars{' · ' + revealed if revealed else ''}"
        f"</div></div><pre class='tb-tip'>{esc(side.text)}</pre></div>"
    )


def pair_html(card: PairCard, shown: str = "") -> str:
    """The two tips side by side, left as A and right as B (the names the keys use). ``shown``
    tells this showing from the last one of the same card (a refused answer shows it again):
    the app's widget gives a new showing its buttons back (:mod:`.widgets`)."""
    return (
        f"{CSS}<div class='tb-card tb-pair' data-candidate='{esc(card.pair_id)}' "
        f"data-shown='{esc(shown or card.pair_id)}' "
        f"data-left='{esc(card.left.candidate_id)}' data-right='{esc(card.right.candidate_id)}'>"
        f"{side_html(card.left, 'left', f'A · left (pair {card.position} of {card.total})')}"
        f"{side_html(card.right, 'right', 'B · right')}</div>"
    )


PAIR_QUESTION_TEXT = (
    "Which tip serves this person better, right now, on the rubric as a whole "
    "(fits their day and tasks, can be acted on at once, reads like a kind colleague)?"
)
"""The question a pairwise card asks (the record's ``question``: ``overall``)."""


def answers_html(note: str = "") -> str:
    """The answer buttons, each showing its keys, and the note box (``note``: what it starts
    with). Plain HTML: the app's widget (:mod:`.widgets`) takes the clicks and the keys."""
    from tipbench_lib.judge.widgets import KEYS, NOTE_LIMIT

    labels = {"left": "A · left is better", "tie": "Tie", "right": "B · right is better"}
    buttons = "".join(
        f"<button type='button' class='tb-answer' data-choice='{choice}'><b>{esc(label)}</b>"
        f"<span class='tb-key'>{esc(' or '.join(KEYS[choice]))}</span></button>"
        for choice, label in labels.items()
    )
    return (
        f"{CSS}<div class='tb-answers'><div class='tb-answer-row'>{buttons}</div>"
        f"<textarea class='tb-note' rows='2' maxlength='{NOTE_LIMIT}' placeholder='optional note"
        f" (Esc leaves the box; keys answer only outside it)'>{esc(note)}</textarea></div>"
    )


def pair_page(card: PairCard, note: str, above: Sequence[Any], below: Any) -> Any:
    """A pairwise card as the judge sees it: ``above`` (progress, messages), the scenario across
    the page, the question, the two tips side by side, the answer buttons (showing their keys)
    and the note box (starting with ``note``), then ``below`` (the status)."""
    import marimo as mo

    previous = card.previous_choice
    words = {"left": "A (left) better", "right": "B (right) better", "tie": "a tie"}
    revising = (
        mo.md(
            f"*Revising pair #{card.position}: you answered {words[previous]}; the journal "
            "keeps that answer too.*"
        )
        if previous
        else mo.md("")
    )
    question = mo.md(f"**{md_text(PAIR_QUESTION_TEXT)}**")
    return mo.vstack(
        [
            *above,
            mo.Html(scenario_html(card, wide=True)),
            question,
            mo.Html(pair_html(card, uuid.uuid4().hex[:12])),
            revising,
            mo.Html(answers_html(note)),
            below,
        ],
        gap=1,
    )
