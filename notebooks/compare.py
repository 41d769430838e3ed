import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="tipbench · compare")


@app.cell
def _():
    import sys
    from pathlib import Path

    import marimo as mo

    from tipbench_lib import notebook
    from tipbench_lib.compare import analysis as compare_analysis
    from tipbench_lib.compare import job as compare_run
    from tipbench_lib.compare import report, report_folder
    from tipbench_lib.core import escaping
    from tipbench_lib.core.cells import cell_label

    return (
        Path,
        cell_label,
        compare_analysis,
        compare_run,
        escaping,
        mo,
        notebook,
        report,
        report_folder,
        sys,
    )


@app.cell
def _(notebook):
    # Its own cell, so that a test can run the notebook with `app.run(defs={"is_script": False})`.
    is_script = notebook.is_script()
    return (is_script,)


@app.cell
def _(is_script, sys):
    # Script mode: `python notebooks/compare.py (--experiment NAME | --data DIR) --out DIR` is
    # `tipbench compare ...`: report.html, leaderboard.csv and comparisons.csv; exit 2 when refused.
    if is_script:
        from tipbench_lib.compare.cli import main as compare_main

        sys.exit(compare_main(sys.argv[1:], prog="python notebooks/compare.py"))
    return


@app.cell
def _(compare_run, mo, notebook):
    _args = notebook.cli_args()
    source_experiment = mo.ui.text(
        value=str(_args.get("experiment") or ""), label="MLflow experiment", placeholder="name"
    )
    source_dir = mo.ui.text(
        value=str(_args.get("data") or compare_run.sample_dir()),
        label="or snapshot directory",
        full_width=True,
    )
    mo.vstack(
        [
            mo.md(
                "# Compare models and prompts\n"
                "Paired on scenarios and on the judges who scored both cells, tips averaged per "
                "scenario, Student-t intervals over scenarios, signed-rank tests with Holm "
                "correction within each family. Opens on the shipped sample; name an MLflow "
                "experiment to analyse your own. The report written at the bottom says exactly "
                "what this page says."
            ),
            mo.hstack([source_experiment, source_dir], widths=[1, 2]),
            mo.md(
                "*A name in the experiment box is used (read from MLflow) and the snapshot "
                "directory is then ignored; leave the name empty to read the snapshot.*"
            ),
        ]
    )
    return source_dir, source_experiment


@app.cell
def _(Path, compare_run, source_dir, source_experiment):
    data = compare_run.load_source(
        source_experiment.value.strip() or None,
        None if source_experiment.value.strip() else Path(source_dir.value),
    )
    return (data,)


@app.cell
def _(cell_label, compare_analysis, data, mo):
    _cells = data.cells
    models = mo.ui.multiselect(sorted(set(_cells["model"])), label="Models")
    prompts = mo.ui.multiselect(sorted(set(_cells["prompt_version"])), label="Prompts")
    scenarios = mo.ui.multiselect(sorted(set(_cells["scenario_id"])), label="Scenarios")
    judges = mo.ui.multiselect(
        sorted(set(data.judgments["judge_id"]) | set(data.pairs["judge_id"])), label="Judges"
    )
    _views, _default = compare_analysis.view_choices(data)
    view = mo.ui.dropdown(_views, value=_default, label="Judge view")
    _pairs = sorted(set(_cells.select("model", "prompt_version").iter_rows()))
    baseline = mo.ui.dropdown(
        {"none: all pairs": None} | {cell_label(m, p): (m, p) for m, p in _pairs},
        value="none: all pairs",
        label="Baseline (name it before looking at results)",
    )
    alpha = mo.ui.dropdown({"0.05": 0.05, "0.01": 0.01, "0.10": 0.10}, value="0.05", label="α")
    mo.vstack(
        [
            mo.md("_Empty filters mean everything._"),
            mo.hstack([models, prompts, scenarios, judges], justify="start", wrap=True),
            mo.hstack([view, baseline, alpha], justify="start"),
        ]
    )
    return alpha, baseline, judges, models, prompts, scenarios, view


@app.cell
def _(
    alpha,
    baseline,
    compare_analysis,
    compare_run,
    data,
    judges,
    models,
    prompts,
    scenarios,
    view,
):
    _selection = compare_run.Selection(
        tuple(models.value), tuple(prompts.value), tuple(scenarios.value), tuple(judges.value)
    )
    analysis = compare_analysis.analyse(
        compare_run.apply_selection(data, _selection),
        compare_analysis.Options(baseline=baseline.value, alpha=alpha.value, view=view.value),
    )
    return (analysis,)


@app.cell
def _(analysis, escaping, mo):
    _md = escaping.md_text
    _notes = [analysis.view_note, analysis.family_note, *analysis.rubric_note_lines]
    _against = (
        "\n".join(f"- {_md(line)}" for line in analysis.verdict_lines)
        or f"No comparison involves {_md(analysis.baseline.label)}."
    )
    _warnings = (
        [
            mo.callout(
                mo.md("**Loading found:** " + "<br>".join(map(_md, analysis.warnings))), "warn"
            )
        ]
        if analysis.warnings
        else []
    )
    _judge_mix = (
        [mo.callout(mo.md(f"**Judges differ between cells:** {_md(analysis.judge_note)}"), "warn")]
        if analysis.judge_note
        else []
    )
    mo.vstack(
        [
            mo.md(
                f"## Verdicts\n**{_md(analysis.headline)}**\n\n"
                + "".join(f"{_md(line)}\n\n" for line in analysis.evidence)
                + "".join(f"_{_md(line)}_\n\n" for line in _notes if line)
                + "".join(f"{_md(line)}\n\n" for line in analysis.pairwise_lines)
            ),
            *_judge_mix,
            *_warnings,
            mo.md(
                f"### Against {_md(analysis.baseline.label)}\n{_md(analysis.baseline_intro)}\n\n"
                + _against
            ),
        ]
    )
    return


@app.cell
def _(analysis, compare_run, escaping, mo, notebook):
    _judge_mix = (
        [
            mo.callout(
                mo.md(f"**Judges differ between cells:** {escaping.md_text(analysis.judge_note)}"),
                "warn",
            )
        ]
        if analysis.judge_note
        else []
    )
    # Judged in pairs only: no rubric leaderboard (the verdicts above say why).
    mo.vstack(
        [
            mo.md(f"## Leaderboard\n{escaping.md_text(analysis.scale_note)}"),
            *_judge_mix,
            notebook.text_table(
                compare_run.for_display(analysis.leaderboard), selection=None, page_size=20
            ),
            mo.md(
                "## All comparisons of two cells on the rubric\nPrimary family first, clearest "
                "verdicts first; `p_permutation` is the unadjusted sign-flip p, `p_holm` the "
                "Holm-adjusted signed-rank p that decides."
            ),
            notebook.text_table(
                compare_run.for_display(analysis.comparison_rows, 3),
                selection=None,
                page_size=15,
            ),
        ]
    ) if analysis.rubric_judged else None
    return


@app.cell
def _(analysis, charts, compare_run, escaping, mo, notebook):
    # Pairwise judging (docs/architecture.md section 13): shown only when the experiment has pairs.
    _pw = analysis.pairwise
    _md = escaping.md_text
    _shown = None
    if _pw is not None:
        from tipbench_lib.compare.pairwise_view import AGREEMENT_NOTE, BIAS_NOTE, METHOD

        _agreement = (
            [mo.md(f"### The rubric and the pairs\n{_md(_pw.agreement_line)}")]
            if _pw.agreement is not None
            else []
        )
        _disagree = (
            [notebook.text_table(compare_run.for_display(_pw.disagreements), selection=None)]
            if _pw.disagreements.height
            else []
        )
        _shown = mo.vstack(
            [
                mo.md(
                    f"## Pairwise judging\n_{_md(_pw.judges.note)}_\n\n{_md(_pw.headline)}\n\n"
                    f"_{_md(METHOD)} {_md(_pw.family_note)}_"
                ),
                notebook.text_table(
                    compare_run.for_display(_pw.leaderboard), selection=None, page_size=20
                ),
                mo.md(
                    f"### Pairwise verdicts against {_md(_pw.baseline_label)}\n"
                    f"{_md(_pw.baseline_intro)}\n\n"
                    + "\n".join(f"- {_md(line)}" for line in _pw.verdict_lines)
                ),
                mo.hstack(
                    [charts["pairwise_baseline"].chart, charts["pairwise_matrix"].chart],
                    wrap=True,
                ),
                notebook.text_table(
                    compare_run.for_display(_pw.comparison_rows, 3), selection=None, page_size=15
                ),
                mo.md(
                    "### Pair judges: agreement and position bias\n"
                    f"_{_md(AGREEMENT_NOTE)} {_md(BIAS_NOTE)}_\n\n"
                    + "\n".join(f"- {_md(line)}" for line in _pw.bias_lines)
                ),
                notebook.text_table(compare_run.for_display(_pw.judge_rows, 3), selection=None),
                *_agreement,
                *_disagree,
            ]
        )
    _shown
    return


@app.cell
def _(analysis, compare_analysis, escaping, mo, report):
    charts = report.chart_blocks(analysis)
    mo.vstack(
        [
            mo.md("## Charts"),
            mo.hstack([charts["heatmap"].chart, charts["forest"].chart], wrap=True),
            charts["baseline"].chart,
            charts["scenarios"].chart,
            charts["dimensions"].chart,
            mo.hstack(
                [
                    charts["latency"].chart,
                    mo.vstack(
                        [
                            mo.md(f"*{escaping.md_text(compare_analysis.QUESTIONS['length'])}*"),
                            charts["length"].chart,
                        ]
                    ),
                ],
                wrap=True,
            ),
        ]
    ) if analysis.rubric_judged else None
    return (charts,)


@app.cell
def _(analysis, charts, compare_analysis, compare_run, escaping, mo, notebook):
    _md = escaping.md_text
    _fit = analysis.length_adjusted
    _pooled = _fit.cells.filter(_fit.cells["pooled"]) if _fit is not None else None
    mo.vstack(
        [
            mo.md(
                "## Length: a sensitivity view\n"
                f"*{_md(compare_analysis.QUESTIONS['length_adjusted'])}*\n\n"
                f"{_md(compare_analysis.LENGTH_METHOD)}\n\n"
                + "\n".join(f"- {_md(line)}" for line in analysis.slopes)
                + f"\n\n{_md(analysis.length_note)}"
            ),
            mo.hstack(
                [
                    charts["length_adjusted"].chart,
                    notebook.text_table(
                        compare_run.for_display(
                            _pooled.select(
                                "model",
                                "prompt_version",
                                "mean_chars",
                                "composite_raw",
                                "composite_adjusted",
                                "rank_raw",
                                "rank_adjusted",
                            )
                        ),
                        selection=None,
                    ),
                ],
                wrap=True,
            ),
        ]
    ) if _pooled is not None else None
    return


@app.cell
def _(analysis, charts, compare_run, escaping, mo, notebook):
    from tipbench_lib.compare.judge_spread import spread_sentences

    _md = escaping.md_text
    _speed = [
        mo.md(f"## Speed\n{_md(analysis.front_note)}"),
        notebook.text_table(compare_run.for_display(analysis.speed), selection=None),
    ]
    mo.vstack(
        [
            mo.md(f"## Judges\n{_md(analysis.view_note)}"),
            notebook.text_table(analysis.judges, selection=None),
            notebook.text_table(
                compare_run.for_display(
                    analysis.panel.select(
                        "judge_id",
                        "kind",
                        "n_judgments",
                        "reference",
                        "alpha",
                        "provisional",
                        "reason",
                    ),
                    3,
                ),
                selection=None,
            ),
            charts["agreement"].chart,
            mo.md(
                "### Each judge's scores, per dimension\n"
                + "".join(f"- {_md(line)}\n" for line in spread_sentences(analysis.judge_spread))
            ),
            notebook.text_table(compare_run.for_display(analysis.judge_spread, 2), selection=None),
            *_speed,
        ]
    ) if analysis.rubric_judged else mo.vstack(
        [
            mo.md(f"## Judges\n{_md(analysis.view_note)}"),
            notebook.text_table(analysis.judges, selection=None),
            *_speed,
        ]
    )
    return


@app.cell
def _(analysis, charts, compare_analysis, compare_run, escaping, mo, notebook):
    # PPI appears by itself when its conditions hold (`tipbench compare --ppi` asks for it).
    _md = escaping.md_text
    _found = analysis.calibration
    _ppi = (
        [notebook.text_table(compare_run.for_display(analysis.ppi.rows, 3), selection=None)]
        if analysis.ppi is not None
        else []
    )
    _calibration = (
        [notebook.text_table(compare_run.for_display(_found.llm, 3), selection=None)]
        if _found is not None and _found.llm.height
        else []
    )
    _slopes = (
        [notebook.text_table(compare_run.for_display(_found.slopes, 3), selection=None)]
        if _found is not None and _found.slopes.height
        else []
    )
    mo.vstack(
        [
            mo.md(
                "## The LLM judge beside people\n### Prediction-powered intervals\n"
                + _md(analysis.ppi_note)
                + "".join(f"\n- {_md(line)}" for line in analysis.ppi_lines)
            ),
            *_ppi,
            mo.md(
                "### Calibration against people\n"
                + f"*{_md(compare_analysis.QUESTIONS['calibration'])}*\n\n"
                + (_md(_found.note) if _found is not None else "")
            ),
            charts["calibration"].chart,
            *_calibration,
            mo.md(
                f"### Verbosity slope of every judge\n*{_md(compare_analysis.QUESTIONS['slopes'])}*"
            ),
            *_slopes,
        ]
    ) if analysis.rubric_judged else None
    return


@app.cell
def _(analysis, mo):
    # The explorer's filters (compare/explorer.py builds and filters, explorer_html renders).
    _tips = analysis.tips
    xp_scenario = mo.ui.dropdown(
        _tips["scenario_id"].unique(maintain_order=True).to_list(),
        value=_tips["scenario_id"][0] if _tips.height else None,
        label="Scenario",
    )
    xp_cells = mo.ui.multiselect(
        _tips["cell"].unique(maintain_order=True).to_list(), label="Cells (none: all)"
    )
    xp_dimension = mo.ui.dropdown(list(analysis.rubric.dimension_ids), label="Scored 2 or less on")
    xp_disagree = mo.ui.number(start=0, stop=100, step=1, value=0, label="Judges differ by ≥")
    xp_repeats = mo.ui.checkbox(label="near repeats only")
    return xp_cells, xp_dimension, xp_disagree, xp_repeats, xp_scenario


@app.cell
def _(
    analysis,
    mo,
    report,
    xp_cells,
    xp_dimension,
    xp_disagree,
    xp_repeats,
    xp_scenario,
):
    from tipbench_lib.compare.explorer import TipFilter, filter_tips
    from tipbench_lib.compare.explorer_html import explorer_html

    _shown = filter_tips(
        analysis.tips,
        analysis.tip_scores,
        TipFilter(
            scenario=xp_scenario.value,
            cells=tuple(xp_cells.value),
            dimension=xp_dimension.value,
            min_disagreement=xp_disagree.value or None,
            near_repeats=xp_repeats.value,
        ),
    )
    mo.vstack(
        [
            mo.md("## Explorer: every tip, side by side"),
            mo.hstack(
                [xp_scenario, xp_cells, xp_dimension, xp_disagree, xp_repeats],
                justify="start",
                wrap=True,
            ),
            mo.md(f"{_shown.height} tips shown."),
            mo.Html(
                f"<style>{report.template('explorer.css')}</style>"
                + explorer_html(
                    _shown,
                    analysis.tip_scores,
                    analysis.rubric.dimension_ids,
                    controls_shown=False,
                )
            ),
        ]
    )
    return


@app.cell
def _(analysis, escaping, mo, notebook):
    _md = escaping.md_text
    _tables = [
        notebook.text_table(rows, selection=None)
        for rows in (analysis.models, analysis.prompts)
        if rows
    ]
    mo.vstack(
        [
            mo.md(
                f"## Provenance\nExperiment **{_md(analysis.experiment)}**, rubric "
                f"{_md(analysis.rubric.version)}.\n\n"
                + "\n".join(
                    f"- {_md(name)}: {_md(value)}" for name, value in analysis.provenance_entries
                )
            ),
            *_tables,
        ]
    )
    return


@app.cell
def _(escaping, mo, notebook, report_folder):
    out_root = report_folder.output_root(notebook.cli_args().get("out-root"))
    out_dir = mo.ui.text(value="compare", label=f"Report folder under {escaping.md_text(out_root)}")
    write_button = mo.ui.run_button(label="Write report.html")
    mo.hstack([out_dir, write_button], justify="start")
    return out_dir, out_root, write_button


@app.cell
def _(analysis, compare_run, escaping, mo, out_dir, out_root, report_folder, write_button):
    _done = mo.md("")
    if write_button.value:
        try:
            _folder = report_folder.report_folder(out_dir.value, out_root)
        except report_folder.ReportFolderError as _exc:
            _done = mo.callout(mo.md(f"**Not written:** {escaping.md_text(_exc)}"), "danger")
        else:
            _path = compare_run.write_outputs(_folder, analysis)
            _done = mo.md(
                f"Wrote {escaping.md_text(_path.resolve())} with `leaderboard.csv` and "
                "`comparisons.csv`."
            )
    _done
    return


if __name__ == "__main__":
    app.run()
