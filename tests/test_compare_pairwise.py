"""Compare's pairwise views (issue 21, docs/architecture.md section 13) on constructed experiments.

Pairs are drawn from a synthetic experiment's own scores (``tests/pair_data``): a person's pair
answers follow that person's composites, so both modes see the same tips, and a test reverses one
cell pair to make the two rankings disagree. Everything goes through the real statistics
(``stats/pairwise``, ``stats/bradley_terry``) and the real analysis, report, CSV tables and
summary fields; an experiment without pairs must come out as it did before pairs existed.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from tipbench_lib.compare import charts, report
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.job import Selection, apply_selection, write_outputs
from tipbench_lib.compare.load import ExperimentData, write_snapshot
from tipbench_lib.compare.summary_fields import summary_fields
from tipbench_lib.compare.tables import PAIRWISE_CSV_COLUMNS, PAIRWISE_LEADERBOARD_CSV_COLUMNS
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import EXIT_OK
from tipbench_lib.core.frames import pairs_frame as empty_pairs
from tipbench_lib.stats.compare import VERDICTS
from tipbench_lib.validation import synthetic

from .pair_data import pair_judgments, pairs_frame
from .test_compare_analysis import NOTEBOOK, all_text, notebook_cell, text_of
from .test_report_browser import ARTIFACTS, Visit, browser  # noqa: F401

OPTIONS = Options(n_boot=200, n_perm=500, seed=1)
EFFECTS = {  # well apart, so the rubric's order is clear and one reversed pair flips it
    ("model-00", "v1"): 1.2,
    ("model-00", "v2"): 0.8,
    ("model-01", "v1"): 0.4,
    ("model-01", "v2"): 0.0,
    ("model-02", "v1"): -0.4,
    ("model-02", "v2"): -0.8,
}
TOP, SECOND = ("model-00", "v1"), ("model-00", "v2")


def experiment() -> synthetic.SyntheticExperiment:
    """6 cells, 8 scenarios, 2 tips; judge-0 a person, judge-1 an LLM judge."""
    return synthetic.generate(3, 2, 8, 2, n_judges=2, llm_judges=1, effects=EFFECTS, seed=11)


def run_notebook(arguments: list[str]) -> list[str]:
    """The HTML of every cell output of ``notebooks/compare.py`` run with these arguments."""
    spec = importlib.util.spec_from_file_location("compare_notebook_with_pairs", NOTEBOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = sys.argv
    sys.argv = [str(NOTEBOOK), *arguments]  # marimo reads the notebook's own arguments here
    try:
        outputs, _ = module.app.run(defs={"is_script": False})
    finally:
        sys.argv = argv
    return [getattr(output, "text", "") or "" for output in outputs]


def data_of(
    exp: synthetic.SyntheticExperiment, pairs: pl.DataFrame | None = None
) -> ExperimentData:
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "pairs"})
    return data if pairs is None else dataclasses.replace(data, pairs=pairs)


@pytest.fixture(scope="module")
def exp() -> synthetic.SyntheticExperiment:
    return experiment()


@pytest.fixture(scope="module")
def pairs(exp: synthetic.SyntheticExperiment) -> pl.DataFrame:
    """The person judges both tips of every cell pair per scenario; the LLM judge the same
    pairs, both orders' worth of a lean to the left on ties."""
    person = pair_judgments(exp, "judge-0", tips=2, seed=1)
    llm = pair_judgments(exp, "judge-1", kind="llm", tips=2, left_lean=0.9, seed=2)
    return pairs_frame(person + llm)


@pytest.fixture(scope="module")
def both(exp: synthetic.SyntheticExperiment, pairs: pl.DataFrame) -> Analysis:
    return analyse(data_of(exp, pairs), OPTIONS)


@pytest.fixture(scope="module")
def disagreeing(exp: synthetic.SyntheticExperiment) -> Analysis:
    """The person's pair answers between the rubric's two best cells reversed."""
    person = pair_judgments(exp, "judge-0", tips=2, reverse=[(TOP, SECOND)], seed=1)
    return analyse(data_of(exp, pairs_frame(person)), OPTIONS)


# ---------------------------------------------------------------- the analysis


def test_the_pairwise_leaderboard_rests_on_the_people_and_reads_its_baseline(
    both: Analysis,
) -> None:
    pw = both.pairwise
    assert pw is not None
    assert pw.judges.name == "people" and pw.judges.judges == ("judge-0",)
    board = pw.leaderboard
    assert board.height == 6
    assert board["rank"].to_list() == list(range(1, 7))
    assert board["strength"].is_sorted(descending=True)
    assert (board["strength_lo"] <= board["strength"]).all()
    assert (board["strength"] <= board["strength_hi"]).all()
    # 5 opponents × 8 scenarios × 2 tips, all judged by the one person
    assert board["n_pairs"].to_list() == [80] * 6 and board["n_scenarios"].to_list() == [8] * 6
    assert board["judges"].to_list() == ["judge-0 80 (100%)"] * 6
    assert not board["provisional"].any()
    # Not named: the strongest cell, said so; its own share against itself is empty.
    assert pw.baseline == (board["model"][0], board["prompt_version"][0]) and not pw.named
    assert "highest strength, chosen after seeing the data" in pw.baseline_intro
    assert board["win_rate_vs_baseline"][0] is None
    # Each other cell's share against it is the comparison row's, seen from the cell's side.
    for row in board.tail(5).iter_rows(named=True):
        cell = (row["model"], row["prompt_version"])
        [found] = pw.against_baseline.filter(
            (pl.col("a_model") == cell[0]) & (pl.col("a_prompt") == cell[1])
            | (pl.col("b_model") == cell[0]) & (pl.col("b_prompt") == cell[1])
        ).iter_rows(named=True)
        share = (
            found["share_mean"]
            if found["a_model"] == cell[0] and found["a_prompt"] == cell[1]
            else 1 - found["share_mean"]
        )
        assert row["win_rate_vs_baseline"] == pytest.approx(share)
        assert row["vs_baseline_lo"] <= row["win_rate_vs_baseline"] <= row["vs_baseline_hi"]
    assert pw.comparisons.height == 15 and set(pw.comparisons["verdict"]) <= set(VERDICTS)
    assert pw.headline.startswith(
        f"Pairwise judging: highest Bradley–Terry strength {cell_label(*pw.baseline)}, "
    )
    assert "240 pair judgments over 8 scenarios and 6 cells in all" in pw.headline


def test_pairwise_verdicts_are_grouped_like_the_rubrics(both: Analysis) -> None:
    pw = both.pairwise
    lines = pw.verdict_lines
    label = cell_label(*pw.baseline)
    verdicts = set(pw.against_baseline["verdict"])
    assert len(lines) == len(verdicts) + 1  # one line per verdict, then what they share
    for line in lines[:-1]:
        assert line.count("%") >= 3 * line.count("[")  # "(81% [60%, 100%])" per cell
    cells_named = sum(line.count(" · ") for line in lines[:-1]) - (len(lines) - 1)
    assert cells_named == 5  # every other cell once (the baseline opens each line)
    assert lines[-1].startswith(
        f"In brackets: the share of pair judgments {label} won against the cell"
    )
    assert "judged by judge-0" in lines[-1] and "provisional" not in lines[-1]
    assert "Holm across" in lines[-1]


def test_a_named_baseline_anchors_strength_and_makes_the_primary_family(
    exp: synthetic.SyntheticExperiment, pairs: pl.DataFrame
) -> None:
    named = analyse(data_of(exp, pairs), dataclasses.replace(OPTIONS, baseline=SECOND))
    pw = named.pairwise
    assert pw.named and pw.baseline == SECOND
    assert (
        pw.baseline_intro
        == f"Against {cell_label(*SECOND)}, the baseline named before seeing the data."
    )
    base = pw.leaderboard.filter(
        (pl.col("model") == SECOND[0]) & (pl.col("prompt_version") == SECOND[1])
    )
    assert base["strength"][0] == pytest.approx(0.0)
    assert f"Strength 0 is the baseline {cell_label(*SECOND)}." in pw.headline
    primary = pw.comparisons.filter(pl.col("family") == "primary")
    assert primary.height == 5 and (primary["family_size"] == 5).all()


def test_the_llm_judges_view_is_provisional_when_no_person_judged_its_pairs(
    exp: synthetic.SyntheticExperiment,
) -> None:
    person = pair_judgments(exp, "judge-0", tips=1, seed=1)
    llm = pair_judgments(exp, "judge-1", kind="llm", tips=1, first_tip=1, seed=2)
    found = analyse(
        data_of(exp, pairs_frame(person + llm)), dataclasses.replace(OPTIONS, view="judge-1")
    )
    pw = found.pairwise
    assert pw.judges.judges == ("judge-1",)
    assert "agreement is unknown" in pw.judges.reasons["judge-1"]
    assert "Provisional, because of weak judges (judge-1: " in pw.judges.note
    assert pw.leaderboard["provisional"].all() and pw.comparisons["provisional"].all()
    assert pw.verdict_lines[-1].endswith("; provisional, resting on a weak judge.")


def test_each_judges_position_bias_is_measured(both: Analysis, pairs: pl.DataFrame) -> None:
    bias = both.pairwise.position_bias
    assert bias["judge_id"].to_list() == ["judge-0", "judge-1"]  # every pair judge, not the view's
    for row in bias.iter_rows(named=True):
        mine = pairs.filter(pl.col("judge_id") == row["judge_id"])
        assert row["n_left"] == mine["n_left"].sum() and row["n_right"] == mine["n_right"].sum()
        assert row["share_left"] == pytest.approx(row["n_left"] / (row["n_left"] + row["n_right"]))
    lines = both.pairwise.bias_lines
    assert len(lines) == 2 and lines[0].startswith("judge-0: the left tip won ")
    # beside it, each judge's agreement on the same tip pairs (stats.pairwise.pair_judge_panel)
    rows = {r["judge_id"]: r for r in both.pairwise.judge_rows.iter_rows(named=True)}
    assert rows["judge-1"]["reference"] == "people (judge-0)"
    assert rows["judge-1"]["n_alpha_tips"] == 240 and rows["judge-1"]["alpha"] is not None
    assert rows["judge-0"]["n_judgments"] == rows["judge-1"]["n_judgments"] == 240


def test_the_two_rankings_agree_when_the_pairs_follow_the_scores(both: Analysis) -> None:
    pw = both.pairwise
    found = pw.agreement
    joined = both.leaderboard.join(pw.leaderboard, on=["model", "prompt_version"])
    expected = sps.kendalltau(joined["composite_mean"], joined["strength"]).statistic
    assert found.n_cells == 6 and found.tau == pytest.approx(expected)
    assert found.lo <= found.tau <= found.hi
    assert pw.agreement_line.startswith(
        f"The rubric's ranking (mean composite) and the pairwise ranking (strength) agree with "
        f"Kendall's τ-b {found.tau:+.2f} (95% interval {found.lo:+.2f} to {found.hi:+.2f}"
    )
    assert pw.agreement_line in both.pairwise_lines


def test_the_cell_pair_the_modes_disagree_on_is_named_with_both_verdicts(
    disagreeing: Analysis,
) -> None:
    pw = disagreeing.pairwise
    rubric_order = disagreeing.leaderboard.select("model", "prompt_version").rows()
    assert rubric_order[:2] == [TOP, SECOND]
    flipped = pw.disagreements.filter(
        (pl.col("a_model") == TOP[0])
        & (pl.col("a_prompt") == TOP[1])
        & (pl.col("b_model") == SECOND[0])
        & (pl.col("b_prompt") == SECOND[1])
    )
    assert flipped.height == 1
    row = flipped.row(0, named=True)
    assert row["composite_a"] > row["composite_b"] and row["strength_a"] < row["strength_b"]
    assert row["rubric_verdict"] in VERDICTS and row["pairwise_verdict"] in VERDICTS
    # the pairs, reversed, never say the rubric's top cell is the better one
    assert row["pairwise_verdict"] != "better"
    assert pw.agreement.tau < 1
    n = pw.disagreements.height
    assert f"they order {n} of the 15 cell pairs differently" in pw.agreement_line


def test_a_selection_keeps_the_pairs_of_the_cells_and_judges_it_keeps(
    exp: synthetic.SyntheticExperiment, pairs: pl.DataFrame
) -> None:
    """Pairs whose cells were filtered out go with them (no 'unknown cell' warning), and a
    judge filter applies to pair judges as to scores."""
    data = data_of(exp, pairs)
    chosen = apply_selection(data, Selection(models=("model-00", "model-01")))
    kept = set(chosen.cells["cell_id"])
    assert chosen.pairs.height == 2 * 8 * 2 * 6  # 2 judges, 8 scenarios, 2 tips, 4·3/2 pairs
    assert set(chosen.pairs["cell_a"]) | set(chosen.pairs["cell_b"]) <= kept
    found = analyse(chosen, OPTIONS)
    assert found.pairwise.leaderboard.height == 4 and found.warnings == ()
    person = apply_selection(data, Selection(judges=("judge-0",)))
    assert set(person.pairs["judge_id"]) == {"judge-0"}
    assert analyse(person, OPTIONS).pairwise.position_bias["judge_id"].to_list() == ["judge-0"]


def test_without_pairs_nothing_is_added(exp: synthetic.SyntheticExperiment) -> None:
    assert data_of(exp).pairs.height == 0  # the loader's default: an empty pairs frame
    for data in (data_of(exp), data_of(exp, empty_pairs([]))):
        plain = analyse(data, OPTIONS)
        assert plain.pairwise is None and plain.pairwise_lines == ()
        assert not any(key.startswith("pairwise") for key in report.chart_blocks(plain))
        fields = summary_fields(plain)
        assert "pairwise_top_cell" not in fields.tags
        assert not any(k.startswith(("strength", "pair_", "n_pair")) for k in fields.metrics)


def test_without_pairs_the_report_is_the_one_before_pairs(
    exp: synthetic.SyntheticExperiment, tmp_path: Path
) -> None:
    """No section, no navigation entry, no line in the header, no chart, no CSV: the sections
    and charts of the page before pairs existed, and nothing that names pairs."""
    plain = analyse(data_of(exp), OPTIONS)
    page = report.render(plain)
    nav = re.findall(r"href='#([^']+)'", re.search(r"<nav>(.*?)</nav>", page, re.S).group(1))
    assert nav == [
        "leaderboard",
        "verdicts",
        "comparisons",
        "scenarios",
        "dimensions",
        "speed",
        "length",
        "judges",
        "llm-judge",
        "examples",
        "explorer",
        "provenance",
    ]
    assert len(report.chart_blocks(plain)) == 10
    assert "pairwise" not in page.lower() and "Bradley" not in page
    write_outputs(tmp_path, plain)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "comparisons.csv",
        "leaderboard.csv",
        "report.html",
    ]


# ---------------------------------------------------------------- charts, tables, summary


def test_the_win_matrix_is_anchored_at_0_to_1_with_n_in_the_tooltip(both: Analysis) -> None:
    pw = both.pairwise
    spec = charts.win_matrix(pw.matrix).to_dict()
    [colour] = [
        layer["encoding"]["color"]
        for layer in spec["layer"]
        if "scale" in layer["encoding"].get("color", {})
    ]
    assert colour["scale"]["domain"] == [0, 1] and colour["scale"]["domainMid"] == 0.5
    tooltips = {t["field"] for t in spec["layer"][0]["encoding"]["tooltip"]}
    assert {"cell", "column", "win_rate", "n"} <= tooltips
    values = next(iter(spec["datasets"].values()))
    assert len(values) == 30  # 6 × 5, the diagonal left empty
    rows = {(v["cell"], v["column"]): v for v in values}
    for (a, b), v in rows.items():
        assert rows[(b, a)]["win_rate"] == pytest.approx(1 - v["win_rate"])
        assert v["n"] == 16
    base = charts.pairwise_against_baseline(
        pw.leaderboard, pw.against_baseline, pw.baseline, pw.level
    ).to_dict()
    xs = [layer["encoding"]["x"] for layer in base["layer"]]
    assert all(x["scale"]["domain"] == [0, 1] for x in xs)


def test_write_outputs_adds_the_pairwise_tables(both: Analysis, tmp_path: Path) -> None:
    write_outputs(tmp_path, both)
    with (tmp_path / "pairwise.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(PAIRWISE_CSV_COLUMNS)] == list(PAIRWISE_CSV_COLUMNS)
    assert list(rows[0])[-2:] == ["judges", "provisional"]
    assert len(rows) == 15
    with (tmp_path / "pairwise_leaderboard.csv").open() as f:
        board = list(csv.DictReader(f))
    assert list(board[0])[: len(PAIRWISE_LEADERBOARD_CSV_COLUMNS)] == list(
        PAIRWISE_LEADERBOARD_CSV_COLUMNS
    )
    assert [r["rank"] for r in board] == [str(i) for i in range(1, 7)]
    assert float(board[0]["strength"]) == pytest.approx(both.pairwise.leaderboard["strength"][0])


def test_the_summary_run_sorts_cells_by_strength_too(both: Analysis) -> None:
    fields = summary_fields(both)
    board = both.pairwise.leaderboard
    for row in board.iter_rows(named=True):
        cell = f"{row['model']}:{row['prompt_version']}"
        assert fields.metrics[f"strength/{cell}"] == pytest.approx(row["strength"], abs=1e-3)
        assert fields.metrics[f"pair_rank/{cell}"] == row["rank"]
    assert fields.metrics["n_pair_judgments"] == 240
    assert fields.metrics["rank_agreement_tau"] == pytest.approx(
        both.pairwise.agreement.tau, abs=1e-3
    )
    top = board.row(0, named=True)
    assert fields.tags["pairwise_top_cell"] == f"{top['model']}:{top['prompt_version']}"
    assert both.pairwise.headline in fields.tags["mlflow.note.content"]


# ---------------------------------------------------------------- the page


def test_the_report_has_a_pairwise_section_beside_the_leaderboard(both: Analysis) -> None:
    page = report.render(both)
    nav = re.search(r"<nav>(.*?)</nav>", page, re.S).group(1)
    anchors = re.findall(r"href='#([^']+)'", nav)
    assert anchors[:4] == ["leaderboard", "verdicts", "pairwise", "comparisons"]
    section = re.search(r"<section id='pairwise'>(.*?)</section>", page, re.S).group(1)
    for needle in (
        "Strength [95% CI]",
        f"Against {cell_label(*both.pairwise.baseline)} [95% CI]",
        "Pair judges: agreement and position bias",
        "The rubric and the pairs",
        "id='chart-pairwise-matrix'",
        "id='chart-pairwise-baseline'",
    ):
        assert needle in section, needle
    header = page.split("<main>", 1)[0]
    assert "<p class='sub pairwise'>Pairwise judging: highest Bradley–Terry strength" in header
    assert len(report.chart_blocks(both)) == 12
    assert np.isfinite(both.pairwise.leaderboard["strength"].to_numpy()).all()


# ---------------------------------------------------------------- in a real browser


def right_edges(visit: Visit, selector: str) -> list[float]:
    return visit.page.eval_on_selector_all(
        selector, "els => els.map(el => { const r = el.getBoundingClientRect(); return r.right; })"
    )


@pytest.mark.browser
def test_the_pairwise_section_reads_at_1280_px_offline(
    browser: object,  # noqa: F811
    exp: synthetic.SyntheticExperiment,
    tmp_path: Path,
) -> None:
    """Both modes, the two best cells reversed in the pairs, an LLM judge beside the person:
    every chart draws with the network cut, nothing is logged, and the section's tables and
    charts stay inside a 1280 px window."""
    person = pair_judgments(exp, "judge-0", tips=2, reverse=[(TOP, SECOND)], seed=1)
    llm = pair_judgments(exp, "judge-1", kind="llm", tips=2, left_lean=0.9, seed=2)
    analysis = analyse(data_of(exp, pairs_frame(person + llm)), OPTIONS)
    visit = Visit(browser, report.write_report(tmp_path, analysis))
    try:
        drawn = visit.page.eval_on_selector_all(
            ".chart", "els => els.map(el => !!el.querySelector('svg, canvas'))"
        )
        assert len(drawn) == 12 and all(drawn), drawn
        assert visit.console == [] and visit.dialogs == [] and visit.blocked == []
        section = visit.page.locator("#pairwise")
        text = " ".join(section.inner_text().split())
        for line in (*analysis.pairwise.verdict_lines, analysis.pairwise.agreement_line):
            assert line in text, line
        assert "Rubric ranks higher" in text  # the disagreement table
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= 1280
        for selector in ("#pairwise table", "#pairwise .chart svg"):
            edges = right_edges(visit, selector)
            assert edges and max(edges) <= 1280, (selector, edges)
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-pairwise.png"))
    finally:
        visit.close()


@pytest.mark.browser
def test_a_24_cell_win_matrix_fits_the_page(
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    wide = synthetic.generate(6, 4, 6, 1, seed=5)
    pairs = pairs_frame(pair_judgments(wide, "judge-0", seed=3))
    analysis = analyse(data_of(wide, pairs), dataclasses.replace(OPTIONS, n_boot=50))
    assert analysis.pairwise.leaderboard.height == 24
    visit = Visit(browser, report.write_report(tmp_path, analysis))
    try:
        assert visit.console == []
        edges = right_edges(visit, "#chart-pairwise-matrix svg")
        assert edges and max(edges) <= 1280, edges
        labels = visit.page.eval_on_selector_all(
            "#chart-pairwise-matrix svg text", "els => els.map(el => el.textContent)"
        )
        assert "model-05 · v4" in labels  # every cell named on the axes
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.locator("#chart-pairwise-matrix").screenshot(
            path=str(ARTIFACTS / "report-pairwise-matrix-24.png")
        )
    finally:
        visit.close()


# ---------------------------------------------------------------- the notebook says the same


def test_the_notebook_and_the_report_say_the_same_of_the_pairs(
    exp: synthetic.SyntheticExperiment, pairs: pl.DataFrame, tmp_path: Path
) -> None:
    """A snapshot with pairs.parquet, read by ``notebooks/compare.py`` (marimo's ``app.run``)
    and by ``tipbench compare --data``: the pairwise lines are the same in both."""
    snapshot = write_snapshot(data_of(exp, pairs), tmp_path / "snapshot")
    out = tmp_path / "out"
    assert compare_main(["--data", str(snapshot), "--out", str(out)]) == EXIT_OK
    page = (out / "report.html").read_text(encoding="utf-8")
    assert (out / "pairwise.csv").is_file() and (out / "pairwise_leaderboard.csv").is_file()
    section = re.search(r"<section id='pairwise'>(.*?)</section>", page, re.S).group(1)
    header = page.split("<main>", 1)[0]
    report_lines = all_text(r"<p class='sub pairwise'>(.*?)</p>", header)
    report_items = all_text(r"<li>(.*?)</li>", section)
    assert len(report_lines) == 2 and len(report_items) >= 3

    outputs = run_notebook(["--data", str(snapshot)])
    shown = notebook_cell(outputs, "pairwise-judging")
    verdicts = notebook_cell(outputs, "verdicts")
    for line in report_lines:
        assert line in text_of(verdicts), line
    assert all_text(r"<li>(.*?)</li>", shown) == report_items
    assert report_lines[1].startswith("The rubric's ranking") and report_lines[1] in text_of(shown)


# ---------------------------------------------------------------- end to end, through MLflow


def test_compare_of_an_experiment_with_pairs_in_mlflow_logs_them_on_the_summary_run(
    mlflow_client, mlflow_server, experiment_name, tipbench_home, tmp_path, monkeypatch
) -> None:
    """Scores applied by an outside judge, pairs journalled by a person and delivered by the
    real syncer; ``tipbench compare --experiment X --out DIR --log-summary`` then writes the
    pairwise section and tables and puts the strengths and the tables on the summary run."""
    from tipbench_lib.judge.cli import main as judge_main

    from .test_judge import collected_experiment
    from .test_judge_io import _export, _fill
    from .test_pair_mlflow import journal_for, shown, stored, tips_by_scenario
    from .test_summary_run import summary_runs

    collected_experiment(
        mlflow_client, experiment_name, prompts=("v1", "v2"), n_scenarios=3, n_tips=2
    )
    exported = _export(mlflow_client, experiment_name, tmp_path / "judging.json")
    (tmp_path / "filled.json").write_text(json.dumps(_fill(exported)), encoding="utf-8")
    filled = ["--experiment", experiment_name, "--apply", str(tmp_path / "filled.json")]
    assert judge_main(filled, client=mlflow_client) == EXIT_OK
    found = stored(mlflow_client, experiment_name)
    journal = journal_for(found, "ana", tipbench_home)
    rubric = found.records.rubric.ref
    for scenario, cells in sorted(tips_by_scenario(found).items()):
        for i, j in itertools.combinations(range(len(cells)), 2):
            for k in range(2):
                choice = "tie" if (k, j) == (1, i + 1) else "left"  # cells in id order
                journal.append_pair(
                    shown(cells[i][k], cells[j][k], choice, scenario, rubric=rubric)
                )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    out = tmp_path / "out"
    argv = ["--experiment", experiment_name, "--out", str(out), "--log-summary"]
    assert compare_main(argv) == EXIT_OK  # reading sends the journalled pairs first
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<section id='pairwise'>" in page
    assert "rest on the pair judgments of people (ana)" in page
    with (out / "pairwise_leaderboard.csv").open() as f:
        board = list(csv.DictReader(f))
    assert len(board) == 4 and sum(int(r["n_pairs"]) for r in board) == 2 * 3 * 6 * 2
    [run] = summary_runs(mlflow_client, experiment_name)
    logged = mlflow_client.get_run(run.run_id)
    for row in board:
        cell = f"{row['model']}:{row['prompt_version']}"
        assert logged.metrics[f"strength/{cell}"] == round(float(row["strength"]), 3)
        assert logged.metrics[f"pair_rank/{cell}"] == int(row["rank"])
    assert logged.metrics["n_pair_judgments"] == 36
    assert "rank_agreement_tau" in logged.metrics
    for name in ("pairwise.csv", "pairwise_leaderboard.csv"):
        assert mlflow_client.download_artifact(run.run_id, name) == (out / name).read_bytes()
