import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="tipbench · compare")


@app.cell
def _():
    import sys
    from pathlib import Path

    import marimo as mo

    from tipbench_lib import notebook, stats
    from tipbench_lib.compare import charts, report, report_folder
    from tipbench_lib.compare import job as compare_run
    from tipbench_lib.core import escaping
    from tipbench_lib.core.cells import cell_label

    is_script = notebook.is_script()
    return (
        Path,
        cell_label,
        charts,
        compare_run,
        escaping,
        is_script,
        mo,
        notebook,
        report,
        report_folder,
        stats,
        sys,
    )


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
                "experiment to analyse your own."
            ),
            mo.hstack([source_experiment, source_dir], widths=[1, 2]),
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
def _(cell_label, data, mo, stats):
    _cells = data.cells
    models = mo.ui.multiselect(sorted(set(_cells["model"])), label="Models")
    prompts = mo.ui.multiselect(sorted(set(_cells["prompt_version"])), label="Prompts")
    scenarios = mo.ui.multiselect(sorted(set(_cells["scenario_id"])), label="Scenarios")
    judges = mo.ui.multiselect(sorted(set(data.judgments["judge_id"])), label="Judges")
    _panel = stats.judges.judge_panel(data.judgments, data.provenance)
    view = mo.ui.dropdown(
        stats.judges.available_views(_panel),
        value=stats.judges.default_view_name(_panel),
        label="Judge view",
    )
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
def _(alpha, baseline, compare_run, data, judges, models, prompts, scenarios, view):
    selection = compare_run.Selection(
        tuple(models.value), tuple(prompts.value), tuple(scenarios.value), tuple(judges.value)
    )
    chosen = compare_run.apply_selection(data, selection)
    analysis = compare_run.analyse(
        chosen, baseline=baseline.value, alpha=alpha.value, view=view.value
    )
    return analysis, chosen


@app.cell
def _(analysis, cell_label, escaping, mo, report, stats):
    _summary = analysis.summary()
    _against = stats.headline.involving(analysis.comparisons, _summary.shown_baseline)
    _md = escaping.md_text
    mo.md(
        f"## Verdicts\n**{_md(_summary.headline)}**\n\n"
        + "".join(f"{_md(line)}\n\n" for line in _summary.lines)
        + f"_{_md(report.view_sentence(analysis))}_\n\n_{_md(_summary.family_line)}_\n\n"
        + f"Against {_md(cell_label(*_summary.shown_baseline))}, {_md(_summary.baseline_note)}:\n\n"
        + "\n".join(f"- {_md(stats.sentence(r))}" for r in _against.iter_rows(named=True))
    )
    return


@app.cell
def _(analysis, compare_run, mo, notebook):
    mo.vstack(
        [
            mo.md("## Leaderboard"),
            notebook.text_table(
                compare_run.for_display(analysis.leaderboard), selection=None, page_size=20
            ),
            mo.md("## All pairwise comparisons"),
            notebook.text_table(
                compare_run.for_display(analysis.comparisons, 3), selection=None, page_size=15
            ),
        ]
    )
    return


@app.cell
def _(analysis, charts, mo):
    _base = analysis.summary().shown_baseline
    _level = 1 - analysis.alpha
    mo.vstack(
        [
            mo.md("## Charts"),
            mo.hstack(
                [
                    charts.heatmap(analysis.leaderboard, _level),
                    charts.forest_plot(analysis.leaderboard, _level),
                ],
                wrap=True,
            ),
            charts.baseline_differences(analysis.comparisons, _base, _level),
            charts.scenario_dots(analysis.scenario_means),
            charts.dimension_breakdown(analysis.leaderboard, _level),
            mo.hstack(
                [
                    charts.quality_latency(
                        analysis.leaderboard, analysis.speed, analysis.front, _level
                    ),
                    charts.score_length(analysis.scores),
                ],
                wrap=True,
            ),
            charts.judge_agreement(analysis.agreement),
        ]
    )
    return


@app.cell
def _(chosen, escaping, mo):
    _prov = chosen.provenance
    _md = escaping.md_text
    _judges = "\n".join(
        f"- <code>{_md(jid)}</code> ({_md(info.get('kind'))}"
        f"{', ' + _md(info['model']) if info.get('model') else ''}): "
        f"{_md(info.get('ok', 0))} judgments"
        + (f", {_md(info['failed'])} failed" if info.get("failed") else "")
        for jid, info in (_prov.get("judges") or {}).items()
    )
    mo.md(
        f"## Provenance\nExperiment **{_md(_prov.get('experiment', '?'))}** "
        f"({_md(_prov.get('source', '?'))}); judges:\n{_judges or '- none'}\n\n"
        f"{_md(_prov.get('judged_by', ''))}"
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
def _(
    alpha,
    analysis,
    baseline,
    chosen,
    compare_run,
    escaping,
    mo,
    out_dir,
    out_root,
    report_folder,
    write_button,
):
    _done = mo.md("")
    if write_button.value:
        try:
            _folder = report_folder.report_folder(out_dir.value, out_root)
        except report_folder.ReportFolderError as _exc:
            _done = mo.callout(mo.md(f"**Not written:** {escaping.md_text(_exc)}"), "danger")
        else:
            _path = compare_run.write_outputs(
                _folder, analysis, chosen, baseline=baseline.value, alpha=alpha.value
            )
            _done = mo.md(
                f"Wrote {escaping.md_text(_path.resolve())} with `leaderboard.csv` and "
                "`comparisons.csv`."
            )
    _done
    return


if __name__ == "__main__":
    app.run()
