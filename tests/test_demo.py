"""``tipbench demo``'s design, its words and its hints, without running the models (issues 20, 22).

The whole demo on the embedded models runs in ``test_console_script.py`` (slow); its ETA rule is
tested on recorded timings in ``test_demo_progress.py``.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from tipbench_lib import demo
from tipbench_lib.stats import adaptive
from tipbench_lib.stats.paired import min_p_attainable


def _design(grid: demo.Grid, baseline: str | None) -> adaptive.QueueState:
    rows = [
        {"candidate_id": f"{m}-{p}-{s}-{k}", "model": m, "prompt_version": p, "scenario_id": s}
        for m in grid.models
        for p in grid.prompts
        for s in range(grid.scenarios)
        for k in range(grid.n_tips)
    ]
    cell = tuple(baseline.rsplit(":", 1)) if baseline else None
    return adaptive.QueueState(adaptive.queue_design(rows, cell))


def test_the_demo_grid_can_decide_where_the_old_one_could_not():
    """Issue 20: the old grid (6 cells, 8 scenarios, all 15 pairs) could decide nothing; the
    demo's grid, with its baseline named before judging, can: the judging queue's sequences are
    within reach and compare's signed-rank floor passes Holm's first step with two scenarios to
    spare (a zero difference is dropped)."""
    old = demo.Grid(scenarios=8, n_tips=3, prompts=("v1", "v2-mentor", "v3-few-shot"))
    assert adaptive.design_reach(_design(old, None)).decidable is False
    for grid in (demo.Grid(), demo.Grid(prompts=("v1", "v2-mentor"))):  # m = 1, m = 3
        state = _design(grid, grid.baseline)
        reach = adaptive.design_reach(state)
        m = state.design.n_comparisons
        assert reach.decidable and m == len(grid.models) * len(grid.prompts) - 1
        assert grid.scenarios >= reach.scenarios_to_decide + 2
        assert min_p_attainable(grid.scenarios - 2) <= 0.05 / m
        assert adaptive.status(state)["out_of_reach"] == 0


def test_the_baseline_is_named_for_compare_and_the_summary_run_is_logged(tmp_path):
    grid = demo.Grid()
    named = dict(demo.steps("x", tmp_path, grid))
    compare = named["compare"]
    assert compare[compare.index("--baseline") + 1] == demo.DEMO_BASELINE
    assert "--log-summary" in compare
    model, prompt = demo.DEMO_BASELINE.rsplit(":", 1)
    assert model in grid.models and prompt in grid.prompts, "the baseline is a cell of the grid"
    collect = named["collect"]
    assert collect[collect.index("--scenarios") + 1] == str(grid.scenarios)


def test_help_is_written_for_people(capsys):
    with pytest.raises(SystemExit) as done:
        demo.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text, "no reStructuredText in --help"
    assert text.startswith("usage: tipbench demo")
    assert "Run the whole tipbench job" in text
    assert f"default {demo.DEMO_SCENARIOS}" in text and "baseline smollm2-135m:v1" in text
    assert demo.main(["--prompts", "v2-mentor"]) == 2, "the baseline's prompt is refused early"


def test_next_steps_print_commands_that_work_as_typed(tmp_path, monkeypatch):
    """Issue 22.6: the hints printed bare `tipbench` (not on PATH) and a `marimo run` without
    the token `make judge` adds. In a checkout they name the make targets; the tipbench hint
    names the executable actually running; names are quoted for the shell."""
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "Makefile").write_text("demo:\n", encoding="utf-8")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # tipbench is not on PATH
    monkeypatch.chdir(checkout)
    experiment = "my demo; touch x"
    text = demo.next_steps(experiment, tmp_path / "out", demo.Grid(), checkout)
    assert "marimo run" not in text
    lines = [line.split("  #")[0].strip() for line in text.splitlines() if line.startswith("  ")]
    for line in lines:
        words = shlex.split(line)
        assert words[0] in ("make",) or os.access(words[0], os.X_OK), line
    judge = next(shlex.split(line) for line in lines if " judge " in line)
    assert judge[:2] == ["make", "judge"] and f"EXPERIMENT={experiment}" in judge
    assert f"BASELINE={demo.DEMO_BASELINE}" in judge
    rerun = next(shlex.split(line) for line in lines if " compare " in line)
    assert Path(rerun[0]) == Path(sys.executable).parent / "tipbench"
    assert rerun[rerun.index("--experiment") + 1] == experiment
    elsewhere = demo.next_steps("e", tmp_path / "out", demo.Grid(), tmp_path)
    assert "make " not in elsewhere and "mlflow-ui" in elsewhere


def test_the_summary_says_what_each_tokens_per_second_measures():
    """Issue 22.6: the terminal's tokens/s (11.6) and the report's (67.9) disagreed with no word
    on why; the demo's summary says what each one measures, beside the stages' times."""
    times = {"start": 9.0, "collect": 100.0, "judge": 80.0}
    text = demo.stage_summary(times, demo.Grid(), {"collect": 180.4, "judge": 150.0})
    assert "start 9 s, collect 1 min 40 s (180 CPU s), judge 1 min 20 s (150 CPU s)" in text
    assert "end to end" in text and "Tokens/s (median)" in text and "load average" in text


def test_the_journal_watch_counts_only_whole_lines_appended_since_it_began(tmp_path):
    journal = tmp_path / "collect.jsonl"
    journal.write_text('{"type":"candidate","n":1}\n', encoding="utf-8")
    watch = demo.JournalWatch(tmp_path, "collect.jsonl", "candidate")
    assert watch.done() == 0, "what was there before the stage does not count"
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write('{"type":"cell"}\n{"type":"candidate","n":2}\n{"type":"candi')
    assert watch.done() == 1, "a line being written waits for its newline"
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write('date","n":3}\n')
    assert watch.done() == 2
