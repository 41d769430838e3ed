import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="tipbench · judge")


@app.cell
def _():
    import sys

    import marimo as mo

    from tipbench_lib import notebook
    from tipbench_lib.core import escaping
    from tipbench_lib.judge import cards as judge_cards

    return escaping, judge_cards, mo, notebook, sys


@app.cell
def _(notebook, sys):
    # Script mode: `python notebooks/judge.py --experiment X (--llm-judge M | --export F |
    # --apply F | --status)` is `tipbench judge ...` with the same arguments and exit statuses.
    if notebook.is_script():
        from tipbench_lib.judge.cli import main as judge_main

        sys.exit(judge_main(sys.argv[1:], prog="python notebooks/judge.py"))
    return


@app.cell
def _(mo, notebook):
    args = notebook.cli_args()
    query = notebook.query_params()
    default_experiment = str(args.get("experiment") or query.get("experiment") or "")
    # What the app's starter chose is locked: a judge id given with --judge-id cannot be changed
    # in the page, and unblinding exists only when the app was started with --unblind.
    locked_judge = str(args.get("judge-id") or "")
    default_judge = locked_judge or str(query.get("judge") or "")
    # marimo reads a bare `--unblind` as "" (a flag with no value), so its presence counts.
    default_unblind = "unblind" in args and args["unblind"] not in (False, 0, "false")
    # `--mode pairwise`: two tips of one scenario per card, answered with one key (section 13).
    mode = str(args.get("mode") or query.get("mode") or "rubric")
    queue_options = {
        "order": str(args.get("order") or "adaptive"),
        "baseline": args.get("baseline"),
        "delta": args.get("delta"),
        "mode": mode,
    }
    _fields = {
        "experiment": mo.ui.text(value=default_experiment, label="Experiment", full_width=False),
        "judge_id": mo.ui.text(
            value=default_judge,
            label="Your judge id" + (" (set when the app was started)" if locked_judge else ""),
            placeholder="e.g. ana",
            disabled=bool(locked_judge),
        ),
    }
    if default_unblind:
        _fields["unblind"] = mo.ui.checkbox(value=True, label="Show model and prompt (unblind)")
    start = (
        mo.md(
            """
            ## tipbench · judge

            """
            + (
                "Pick the better of two tips for the same person, with one key. "
                if mode == "pairwise"
                else "Score each tip on the rubric. "
            )
            + """Model and prompt stay hidden.
            Every save goes to your journal on disk first, then to MLflow.

            """
            + " ".join(f"{{{name}}}" for name in _fields)
        )
        .batch(**_fields)
        .form(submit_button_label="Start judging", bordered=False)
    )
    # Shown by the next cell: folded to one line once judging has started.
    return (
        default_experiment,
        default_judge,
        default_unblind,
        locked_judge,
        mode,
        queue_options,
        start,
    )


@app.cell
def _(
    default_experiment,
    default_judge,
    default_unblind,
    escaping,
    judge_cards,
    locked_judge,
    mo,
    mode,
    queue_options,
    start,
):
    from tipbench_lib.judge.app import Opened, open_session

    chosen = start.value or (
        {"experiment": default_experiment, "judge_id": default_judge, "unblind": default_unblind}
        if default_experiment and default_judge
        else None
    )
    # Opens the session (judge/app.py): sends what MLflow lacks first, then starts the thread
    # that sends MLflow's half of every save, so the next card never waits for it.
    _opened = Opened()
    if chosen is not None:
        _opened = open_session(
            chosen["experiment"],
            # The page cannot override what the app was started with (see the form above).
            locked_judge or chosen["judge_id"],
            blind=not (default_unblind and chosen.get("unblind", False)),
            **queue_options,
        )
    session, delivery = _opened.session, _opened.delivery
    # One card cell per mode; each leaves the page to the other when its mode is not on.
    rubric_session = session if mode == "rubric" else None
    pair_session = session if mode == "pairwise" else None
    session_error, backlog_note = _opened.error, _opened.backlog
    if session_error:
        _message = mo.callout(
            mo.md(f"**Cannot start:** {escaping.md_text(session_error)}"), "danger"
        )
    elif session is None:
        _message = mo.callout(mo.md("Enter the experiment and your judge id."), "info")
    elif backlog_note:
        _message = mo.callout(mo.md(escaping.md_text(backlog_note)), "warn")
    else:
        _message = mo.md("")
    # Once started, the form folds into one line, so the first card is on screen (1280x800).
    _start = (
        start
        if session is None
        else judge_cards.started_header(session.experiment, session.judge_id, mode, start)
    )
    mo.vstack([_start, _message])
    return delivery, pair_session, rubric_session, session


@app.cell
def _(mo):
    # What the last submit did (judge/app.py `Outcome`: its message, and the picks of a refused
    # one), and the card picked for revising. The card cell reads both and its form's on_change
    # sets them, so it re-runs itself (self loops) in the pass that takes the submit, before the
    # revise list: the next card shows sooner.
    get_last, set_last = mo.state(None, allow_self_loops=True)
    get_revising, set_revising = mo.state(None, allow_self_loops=True)
    return get_last, get_revising, set_last, set_revising


@app.cell
def _(delivery, get_last, get_revising, judge_cards, mo, rubric_session, set_last, set_revising):
    # The card, its form and the page around them are built in the library
    # (tipbench_lib/judge/cards.py: card_form, card_page), the save in judge/app.py.
    from tipbench_lib.judge.app import submit as submit_card

    _session = rubric_session
    _last = get_last()
    _revising = get_revising()
    if _session is None:
        card, _extra = None, False
    elif _revising:
        card, _extra = _session.card(_revising), False
    else:
        card, _extra = _session.serve()
    # Where the primary comparisons stand, in the same cell as the card: one cell to re-run
    # and send per save keeps submit -> next card fast (bench/judge_latency.py).
    _standing = _session.status() if _session is not None and _session.people is not None else None
    _panel = mo.md("")
    if _standing is not None:
        _panel = mo.Html(
            judge_cards.status_html(_standing, _session.comparisons(), _session.queue_order)
        )
    _stop = mo.md("")
    _warning = judge_cards.design_warning(_standing) if _standing is not None else None
    # A design that can decide nothing says so from the first card on (issue 20).
    if _standing is not None and (_extra or _warning is not None) and card is not None:
        _stop = mo.callout(
            mo.md(judge_cards.stop_text(_standing)),
            "warn" if _warning else "success" if _standing["can_stop"] else "info",
        )
    _status = mo.md("")
    if _last is not None:
        _status = mo.callout(mo.md(_last.message), "success" if _last.ok else "warn")
    form, _view = None, None  # no output in pairwise mode: no gap (14 px) above the pair card
    if _session is not None:
        _progress = mo.Html(judge_cards.progress_html(_session.progress()))
    if _session is not None and card is None:
        _can_stop = _standing is not None and _standing["can_stop"] and _warning is None
        _view = judge_cards.done_page([_progress, _status], _can_stop, _panel)
    elif card is not None:

        def _submit(value, card=card):
            # Saves while marimo takes the value (judge/app.py); no `validate=` round trip.
            outcome = submit_card(_session, card, value, delivery)
            if outcome.saved:
                set_revising(None)
            set_last(outcome)

        # A save refused for missing scores shows the same card again with the judge's picks.
        _draft = _last.draft_for(card.candidate_id) if _last is not None else {}
        form = judge_cards.card_form(_session.rubric, card, _draft, _submit)
        _view = judge_cards.card_page(
            card, _session.rubric, form, [_progress, _stop, _status], _panel
        )
    _view
    return card, form


@app.cell
def _(mode):
    # The app's one browser-side widget (judge/widgets.py), made once: it scrolls a new card into
    # view and, pairwise, takes the answer keys and buttons. Nothing of it is built per card.
    from tipbench_lib.judge.widgets import card_keys

    keyboard = card_keys(answers=mode == "pairwise")
    keyboard.element
    return (keyboard,)


@app.cell
def _(
    delivery,
    get_last,
    get_revising,
    judge_cards,
    keyboard,
    mo,
    pair_session,
    set_last,
    set_revising,
):
    # The pairwise card (section 13): two tips of one scenario, sides drawn per card from the
    # judge's recorded seed; the answer comes from the card's widget (judge/widgets.py: buttons
    # and keys) and is saved in its message handler (judge/app.py submit_pair), journal first.
    from tipbench_lib.judge.app import submit_pair

    _last = get_last()
    _revising = get_revising()
    pair_card = None
    keyboard.answer = None  # until a pairwise card is on screen
    _extra = False
    if pair_session is not None:
        pair_card, _extra = (
            (pair_session.card(_revising), False) if _revising else pair_session.serve()
        )
    # The pair queue's status panel, stop moment and design warning, as on the rubric card.
    _standing = (
        pair_session.status()
        if pair_session is not None and pair_session.people is not None
        else None
    )
    _panel, _stop = mo.md(""), mo.md("")
    _warning = judge_cards.design_warning(_standing) if _standing is not None else None
    if _standing is not None:
        _panel = mo.Html(
            judge_cards.status_html(
                _standing, pair_session.comparisons(), "adaptive", pairwise=True
            )
        )
        if (_extra or _warning is not None) and pair_card is not None:
            _stop = mo.callout(
                mo.md(judge_cards.stop_text(_standing, pairwise=True)),
                "warn" if _warning else "success" if _standing["can_stop"] else "info",
            )
    _status = mo.md("")
    if _last is not None and pair_session is not None:
        _status = mo.callout(mo.md(_last.message), "success" if _last.ok else "warn")
    _view = None  # no output in rubric mode
    if pair_session is not None:
        _progress = mo.Html(judge_cards.progress_html(pair_session.progress()))
        if pair_card is None:
            _can_stop = _standing is not None and _standing["can_stop"] and _warning is None
            _view = judge_cards.done_page([_progress, _status], _can_stop, _panel, pairwise=True)
        else:

            def _answer(content, card=pair_card):
                # Runs while marimo takes the widget's message, before any cell (section 10).
                outcome = submit_pair(pair_session, card, content, delivery)
                if outcome.saved:
                    set_revising(None)
                set_last(outcome)

            _draft = _last.draft_for(pair_card.pair_id) if _last is not None else {}
            # The note box starts from a refused answer's note, else the answer being revised.
            _note = pair_card.previous.note if pair_card.previous is not None else ""
            # The widget sends this card's answers here (judge/widgets.py).
            keyboard.answer = _answer
            _view = judge_cards.pair_page(
                pair_card, _draft.get("note", _note), [_progress, _stop, _status], _panel
            )
    _view
    return (pair_card,)


@app.cell
def _(get_last, mo, mode, session, set_revising):
    get_last()  # rebuild after every save: the list is read from the journal on disk
    # Picking a tip (or a pair) sets the revising state the card cell reads; this cell comes
    # after the card so that a save shows the next card before the list is rebuilt.
    _labels = dict(session.revisable()) if session is not None else {}
    _what = "a recent answer" if mode == "pairwise" else "an earlier score"
    revise = mo.ui.dropdown(
        options=_labels,
        value=None,
        label=f"Revise {_what} ({len(_labels)} saved)",
        searchable=True,
        full_width=True,
        on_change=set_revising,
    )
    revise
    return


@app.cell
def _(escaping, get_last, mo, notebook, rubric_session):
    get_last()
    _session = rubric_session
    _rows = (
        []
        if _session is None
        else [
            {"cell": c.label, "judged": c.judged, "total": c.total}
            for c in _session.progress().cells
        ]
    )
    _agree = mo.md("")
    if _session is not None:
        try:
            _agreement = _session.agreement()
            _agree = (
                notebook.text_table(_agreement, selection=None)
                if _agreement.height
                else mo.md("Agreement needs two or more judges who scored the same tips.")
            )
        except Exception as exc:
            _agree = mo.md(f"Agreement unavailable: {escaping.md_text(exc)}")
    # Per-cell progress and agreement are the rubric's (the pairwise card has neither yet).
    _tables = (
        mo.md("")
        if _session is None
        else mo.accordion(
            {
                "Progress per cell": notebook.text_table(_rows, selection=None, page_size=12),
                "Agreement between judges (Krippendorff's alpha, ordinal)": _agree,
            }
        )
    )
    _tables
    return


if __name__ == "__main__":
    app.run()
