import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="tipbench · collect")


@app.cell
def _():
    import sys

    import marimo as mo

    from tipbench_lib import notebook
    from tipbench_lib.backends.base import GenerationOptions
    from tipbench_lib.collect import cli
    from tipbench_lib.collect import job as collect_run
    from tipbench_lib.core.errors import TipbenchError
    from tipbench_lib.core.escaping import md_text
    from tipbench_lib.core.prompts import list_prompts
    from tipbench_lib.core.scenarios import DEFAULT_N_SCENARIOS, ScenarioFile

    is_script = notebook.is_script()
    return (
        DEFAULT_N_SCENARIOS,
        GenerationOptions,
        ScenarioFile,
        TipbenchError,
        cli,
        collect_run,
        is_script,
        list_prompts,
        md_text,
        mo,
        notebook,
        sys,
    )


@app.cell
def _(cli, is_script, sys):
    # Script mode: `python notebooks/collect.py --models a,b ...` is `tipbench collect --models a,b
    # ...`: the whole job, exiting with 0 (all complete), 1 (some cells failed), 2 (refused before
    # anything ran) or 3 (interrupted: run the same command again to resume).
    if is_script:
        sys.exit(cli.main(sys.argv[1:], prog="python notebooks/collect.py"))
    return


@app.cell
def _(mo):
    mo.md("""
    # Collect candidate tips

    Pick models, prompt versions and scenarios; **Run** generates several candidate tips per
    cell, one model resident at a time, journals each tip before logging the cell to MLflow.
    Rerunning the same selection resumes: complete cells are skipped, partial ones completed.
    """)
    return


@app.cell
def _(mo):
    backend_kind = mo.ui.dropdown(
        options=["auto", "ollama", "embedded"], value="auto", label="Backend"
    )
    max_model_b = mo.ui.number(start=0.1, stop=70, step=0.1, value=4.0, label="Max parameters (B)")
    experiment = mo.ui.text(value="tipbench", label="MLflow experiment")
    mo.hstack([backend_kind, max_model_b, experiment], justify="start")
    return backend_kind, experiment, max_model_b


@app.cell
def _(TipbenchError, backend_kind, md_text, mo):
    from tipbench_lib.backends.select import choose_backend

    try:
        backend, backend_note = choose_backend(backend_kind.value)
        backend_error = None
    except TipbenchError as exc:
        backend, backend_note, backend_error = None, "", str(exc)
    mo.callout(
        mo.md(md_text(backend_error or backend_note)), kind="danger" if backend_error else "info"
    )
    return (backend,)


@app.cell
def _(backend, collect_run, max_model_b, md_text, mo):
    model_rows = collect_run.model_choices(backend, max_model_b.value) if backend else []
    model_boxes = mo.ui.dictionary(
        {
            row["model"]: mo.ui.checkbox(
                label=md_text(f"{row['model']} · {row['parameters']} · {row['quantization']}")
                + (f" — disabled: {md_text(row['reason'])}" if row["reason"] else ""),
                disabled=not row["allowed"],
            )
            for row in model_rows
        }
    )
    mo.vstack(
        [mo.md("### Models"), model_boxes.vstack()]
        if model_rows
        else [mo.md("### Models"), mo.md("No models found: pull one with `ollama pull NAME`.")]
    )
    return (model_boxes,)


@app.cell
def _(DEFAULT_N_SCENARIOS, ScenarioFile, list_prompts, mo):
    # A malformed data file is listed here and blocks only the runs that use it.
    prompt_listing = list_prompts()
    scenario_file = ScenarioFile.read()
    data_problems = prompt_listing.problem_lines() + [str(p) for p in scenario_file.problems()]
    prompt_versions = sorted(prompt_listing.prompts)
    prompts_pick = mo.ui.multiselect(
        prompt_versions, value=prompt_versions, label="Prompt versions"
    )
    n_scenarios = mo.ui.slider(
        1,
        len(scenario_file.pairs()),
        value=DEFAULT_N_SCENARIOS,
        label="Scenarios",
        show_value=True,
    )
    n_tips = mo.ui.slider(1, 10, value=3, label="Tips per cell", show_value=True)
    temperature = mo.ui.slider(0.0, 1.5, step=0.05, value=0.8, label="Temperature", show_value=True)
    max_tokens = mo.ui.number(start=16, stop=1024, step=8, value=96, label="Max tokens")
    retry_failed = mo.ui.checkbox(label="Retry failed cells")
    diversity = mo.ui.checkbox(
        label="Diversity: generate a tip again when it nearly repeats an earlier one of its cell"
    )
    mo.vstack(
        [
            mo.md("### Grid"),
            mo.callout(
                mo.vstack(
                    [mo.md("**Data files with problems**"), mo.plain_text("\n".join(data_problems))]
                ),
                kind="warn",
            )
            if data_problems
            else mo.md(""),
            prompts_pick,
            mo.hstack([n_scenarios, n_tips], justify="start"),
            mo.hstack([temperature, max_tokens, retry_failed], justify="start"),
            diversity,
        ]
    )
    return (
        diversity,
        max_tokens,
        n_scenarios,
        n_tips,
        prompts_pick,
        retry_failed,
        temperature,
    )


@app.cell
def _(
    GenerationOptions,
    collect_run,
    diversity,
    experiment,
    max_model_b,
    max_tokens,
    mo,
    model_boxes,
    n_scenarios,
    n_tips,
    prompts_pick,
    retry_failed,
    temperature,
):
    chosen_models = tuple(name for name, on in model_boxes.value.items() if on)
    request = collect_run.CollectRequest(
        experiment=experiment.value.strip() or "tipbench",
        models=chosen_models,
        prompts=tuple(prompts_pick.value),
        scenarios=str(n_scenarios.value),
        n_tips=n_tips.value,
        # The slider's steps come from the browser as binary fractions (0.8500000000000001);
        # rounded, the same temperature typed on the command line makes the same cells.
        options=GenerationOptions(
            temperature=round(float(temperature.value), 2), max_tokens=int(max_tokens.value)
        ),
        max_model_b=max_model_b.value,
        retry_failed=retry_failed.value,
        diversity=diversity.value,
    )
    cells = len(chosen_models) * len(request.prompts) * n_scenarios.value
    run_button = mo.ui.run_button(
        label=f"Run {cells} cells × {n_tips.value} tips", disabled=cells == 0, kind="success"
    )
    run_button
    return (request, run_button)


@app.cell
def _(TipbenchError, backend, collect_run, md_text, mo, notebook, request, run_button):
    def _run():
        arrived: list[dict] = []
        clock = collect_run.Eta()

        def show(event):
            arrived.insert(0, {"cell": event.message, **collect_run.candidate_row(event.candidate)})
            mo.output.replace(
                mo.vstack(
                    [
                        mo.md(clock.line(event.done, event.total)),
                        notebook.text_table(arrived[:50], selection=None, page_size=10),
                    ]
                )
            )

        mo.output.replace(mo.md("_Loading the first model…_"))
        try:
            with collect_run.interactive_job(request, backend) as job:
                summary = job.run(show)
        except (TipbenchError, ValueError) as exc:
            return mo.callout(
                mo.md(f"**Refused before loading any model:** {md_text(exc)}"), kind="danger"
            )
        return mo.vstack(
            [
                mo.callout(
                    mo.md("\n".join(f"- {md_text(line.strip())}" for line in summary.lines())),
                    kind="success" if summary.exit_code == 0 else "warn",
                ),
                notebook.text_table(arrived, selection=None, page_size=10)
                if arrived
                else mo.md(""),
            ]
        )

    mo.output.replace(_run() if run_button.value else mo.md("_Select models and press **Run**._"))
    return


if __name__ == "__main__":
    app.run()
