import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="tipbench · judge")


@app.cell
def _():
    import html
    import sys

    import marimo as mo

    return html, mo, sys


@app.cell
def _(mo, sys):
    # Script mode: python notebooks/judge.py --experiment X (--llm-judge M | --export F | --apply F)
    if mo.app_meta().mode == "script":
        from tipbench_lib.judge_io import main as judge_main

        sys.exit(judge_main(sys.argv[1:]))
    return


@app.cell
def _(html):
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
    </style>
    """

    def esc(value):
        return html.escape(str(value), quote=True)

    def scenario_html(card):
        """The user the tip was written for; every string escaped (it came from a file)."""
        s = card.scenario
        tasks = "".join(f"<li>{esc(t)}</li>" for t in s.tasks) or "<li><em>no task list</em></li>"
        revealed = "".join(
            f"<div class='tb-meta'>{esc(k)}: <b>{esc(v)}</b></div>"
            for k, v in card.revealed.items()
        )
        return (
            f"{CSS}<div class='tb-scenario'><div class='tb-label'>Scenario {esc(s.scenario_id)}</div>"
            f"<h3>{esc(s.persona)}</h3><div>{esc(s.persona_description)}</div>"
            f"<div class='tb-when'><b>{esc(s.time_slot)}</b> — {esc(s.time_slot_description)}</div>"
            f"<div class='tb-label'>Tasks</div><ul>{tasks}</ul>{revealed}</div>"
        )

    def tip_html(card):
        """The tip exactly as written: escaped inside a pre-wrap block, so nothing renders or runs."""
        auto = "well-formed" if card.format_ok_auto else "not well-formed"
        length = "overlong" if card.overlong_auto else "length ok"
        return (
            f"{CSS}<div class='tb-card' data-candidate='{esc(card.candidate_id)}'>"
            f"<div class='tb-head'><div class='tb-label'>Tip {card.position} of {card.total}</div>"
            f"<div class='tb-meta'>automatic checks: {auto}, {length} ({card.char_count} chars)</div>"
            f"</div><pre class='tb-tip'>{esc(card.text)}</pre></div>"
        )

    def progress_html(progress):
        pct = 100 * progress.judged / max(progress.total, 1)
        return (
            f"{CSS}<div class='tb-head'><b class='tb-progress'>{progress.judged} / {progress.total} "
            f"judged</b><span class='tb-meta'>{pct:.0f}%</span></div>"
            f"<div class='tb-bar'><div style='width:{pct:.1f}%'></div></div>"
        )

    return CSS, esc, progress_html, scenario_html, tip_html


@app.cell
def _(mo):
    args = mo.cli_args() or {}
    query = mo.query_params()
    default_experiment = str(args.get("experiment") or query.get("experiment") or "")
    default_judge = str(args.get("judge-id") or query.get("judge") or "")
    default_unblind = bool(args.get("unblind"))
    start = (
        mo.md(
            """
            ## tipbench · judge

            Score each tip on the rubric. Model and prompt stay hidden unless you unblind.
            Every save goes to your journal on disk first, then to MLflow.

            {experiment} {judge_id} {unblind}
            """
        )
        .batch(
            experiment=mo.ui.text(value=default_experiment, label="Experiment", full_width=False),
            judge_id=mo.ui.text(value=default_judge, label="Your judge id", placeholder="e.g. ana"),
            unblind=mo.ui.checkbox(value=default_unblind, label="Show model and prompt (unblind)"),
        )
        .form(submit_button_label="Start judging", bordered=False)
    )
    start
    return default_experiment, default_judge, default_unblind, start


@app.cell
def _(default_experiment, default_judge, default_unblind, mo, start):
    from tipbench_lib.judge import JudgeSession
    from tipbench_lib.tracking.client import MlflowClient

    chosen = start.value or (
        {"experiment": default_experiment, "judge_id": default_judge, "unblind": default_unblind}
        if default_experiment and default_judge
        else None
    )
    mo.stop(chosen is None, mo.callout(mo.md("Enter the experiment and your judge id."), "info"))
    try:
        session = JudgeSession(
            MlflowClient.from_env(),
            chosen["experiment"].strip(),
            chosen["judge_id"],
            blind=not chosen["unblind"],
        )
        session_error = None
    except Exception as exc:  # shown to the judge: every tipbench error says what to do
        session, session_error = None, str(exc)
    mo.stop(session is None, mo.callout(mo.md(f"**Cannot start:** {session_error}"), "danger"))
    return (session,)


@app.cell
def _(mo):
    get_last, set_last = mo.state(None)
    return get_last, set_last


@app.cell
def _(get_last, mo, session):
    from tipbench_lib.judge import record_summary

    get_last()  # rebuild after every save: the list is read from the journal on disk
    _judged = session.judged()
    _labels = {}
    for _cid in session.order:
        if _cid in _judged:
            _card = session.card(_cid)
            _text = _card.text.replace("\n", " ")
            _label = f"#{_card.position}: {_text[:50]}… ({record_summary(_judged[_cid])})"
            _labels[_label] = _cid
    revise = mo.ui.dropdown(
        options=_labels,
        value=None,
        label=f"Revise an earlier score ({len(_labels)} saved)",
        searchable=True,
        full_width=True,
    )
    return (revise,)


@app.cell
def _(get_last, mo, progress_html, revise, scenario_html, session, tip_html):
    _last = get_last()
    card = session.card(revise.value) if revise.value else session.next_card()
    _status = mo.md("")
    if _last is not None:
        _status = mo.callout(mo.md(_last["message"]), "success" if _last["ok"] else "warn")
    _progress = mo.Html(progress_html(session.progress()))
    if card is None:
        form = None
        _view = mo.vstack(
            [
                _progress,
                _status,
                revise,
                mo.callout(
                    mo.md(
                        "**All done.** Every candidate has your score; pick one above to revise it."
                    ),
                    "success",
                ),
            ]
        )
    else:
        _prev = (
            card.previous if card.previous and card.previous.get("status", "ok") == "ok" else None
        )
        _dims = {}
        for _dim in session.rubric.dimensions:
            _options = {f"{lv.score} · {lv.anchor}": lv.score for lv in _dim.levels}
            _value = next((k for k, v in _options.items() if _prev and v == _prev[_dim.id]), None)
            _dims[_dim.id] = mo.ui.radio(
                options=_options, value=_value, label=f"**{_dim.name}** — {_dim.question}"
            )
        _fmt = _prev["format_ok"] if _prev else card.format_ok_auto
        _long = _prev["overlong"] if _prev else card.overlong_auto
        _auto_fmt = "yes" if card.format_ok_auto else "no"
        _auto_long = "yes" if card.overlong_auto else "no"
        _limit = session.rubric.max_chars
        _elements = {
            **_dims,
            "format_ok": mo.ui.checkbox(
                value=bool(_fmt), label=f"Well-formed (automatic check: {_auto_fmt})"
            ),
            "overlong": mo.ui.checkbox(
                value=bool(_long),
                label=f"Overlong: more than {_limit} characters (automatic: {_auto_long})",
            ),
            "note": mo.ui.text(
                value=(_prev or {}).get("note", ""), placeholder="optional note", full_width=True
            ),
        }
        _names = [d.id for d in session.rubric.dimensions]

        def _validate(value):
            missing = [n for n in _names if value is None or value.get(n) is None]
            return f"Pick a score for {', '.join(missing)}." if missing else None

        form = (
            mo.Html(
                "<div style='display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:18px'>"
                + "".join(f"<div>{{{n}}}</div>" for n in _names)
                + "</div><div style='display:flex;gap:28px;margin-top:12px'>{format_ok}{overlong}</div>"
                "<div style='margin-top:10px'>{note}</div>"
            )
            .batch(**_elements)
            .form(
                submit_button_label="Save and next  (Ctrl+Enter)",
                submit_button_tooltip="Saves to your journal, then MLflow",
                validate=_validate,
                bordered=False,
            )
        )
        _revising = (
            mo.md(f"*Revising tip #{card.position}; the journal keeps your earlier score too.*")
            if _prev
            else mo.md("")
        )
        _view = mo.vstack(
            [
                _progress,
                _status,
                mo.hstack(
                    [
                        mo.Html(scenario_html(card)),
                        mo.vstack([mo.Html(tip_html(card)), _revising, form]),
                    ],
                    widths=[2, 5],
                    gap=1.5,
                    align="start",
                ),
                revise,
            ],
            gap=1,
        )
    _view
    return card, form


@app.cell
def _(card, form, mo, session, set_last):
    from tipbench_lib.judge import Scores

    mo.stop(form is None or form.value is None)
    _v = form.value
    try:
        _result = session.save(
            card.candidate_id,
            Scores(
                _v["relevance"],
                _v["actionability"],
                _v["tone"],
                bool(_v["format_ok"]),
                bool(_v["overlong"]),
                _v["note"] or "",
            ),
        )
    except Exception as exc:  # a failed save must be visible, never silent
        set_last({"ok": False, "message": f"**Not saved:** {exc}"})
    else:
        _where = (
            "journal and MLflow"
            if _result.synced
            else (f"journal only; MLflow will get it with the next save ({_result.sync_error})")
        )
        set_last(
            {
                "ok": _result.synced,
                "message": f"Saved tip #{card.position} (composite {_result.record['composite']:g}) to the {_where}.",
            }
        )
    return


@app.cell
def _(get_last, mo, session):
    get_last()
    _rows = [
        {"cell": c.label, "judged": c.judged, "total": c.total} for c in session.progress().cells
    ]
    try:
        _agreement = session.agreement()
        _agree = (
            mo.ui.table(_agreement, selection=None)
            if _agreement.height
            else mo.md("Agreement needs two or more judges who scored the same tips.")
        )
    except Exception as exc:
        _agree = mo.md(f"Agreement unavailable: {exc}")
    mo.accordion(
        {
            "Progress per cell": mo.ui.table(_rows, selection=None, page_size=12),
            "Agreement between judges (Krippendorff's alpha, ordinal)": _agree,
        }
    )
    return


if __name__ == "__main__":
    app.run()
