"""The leaderboard says who scored each cell, and warns when the cells rest on different judges.

A cell's mean averages whichever judges of the view scored it, so a cell scored only by a harsh
judge ranks low for the judge, not the tips. The comparisons pair on shared judges and stay what
decides; the leaderboard, the summary, the report and ``leaderboard.csv`` must say who each mean
rests on, and when the judges differ between cells, that the ranking by mean is no verdict
(``docs/architecture.md``, section 8).
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.load import ExperimentData, write_snapshot
from tipbench_lib.compare.tables import write_tables
from tipbench_lib.core.errors import EXIT_OK
from tipbench_lib.core.schema import leaderboard_csv_columns
from tipbench_lib.stats.judge_mix import TOLERANCE, cell_judge_weights, judge_mix
from tipbench_lib.validation import synthetic

from .test_compare_analysis import NOTEBOOK, all_text, notebook_cell, text_of


def load_bench():
    """``bench/judge_adjusted.py``: the test runs the benchmark's own case, fewer times."""
    path = NOTEBOOK.parents[1] / "bench" / "judge_adjusted.py"
    spec = importlib.util.spec_from_file_location("judge_adjusted_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OPTIONS = Options(n_boot=100, n_perm=200)
HARSH_CELL = ("model-00", "v1")


def analysis_of(exp: synthetic.SyntheticExperiment) -> Analysis:
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "judges"})
    return analyse(data, OPTIONS)


@pytest.fixture(scope="module")
def harsh_on_one_cell() -> Analysis:
    """Two people over 2 models x 2 prompts: the harsh one (bias -1) scored model-00 · v1 alone,
    the other every other cell."""
    assigned = np.zeros((2, 2, 2), dtype=bool)
    assigned[..., 0] = True
    assigned[0, 0] = [False, True]
    exp = synthetic.generate(
        2, 2, 12, 3, n_judges=2, judge_biases=[0.3, -1.0], assignment=assigned, seed=3
    )
    return analysis_of(exp)


@pytest.fixture(scope="module")
def both_everywhere() -> Analysis:
    """The same experiment with both people scoring every tip."""
    exp = synthetic.generate(2, 2, 12, 3, n_judges=2, judge_biases=[0.3, -1.0], seed=3)
    return analysis_of(exp)


def row_of(board: pl.DataFrame, cell: tuple[str, str]) -> dict:
    model, prompt = cell
    return board.filter((pl.col("model") == model) & (pl.col("prompt_version") == prompt)).row(
        0, named=True
    )


# ---------------------------------------------------------------- the weights and the rule


def test_a_judges_weight_is_its_share_of_the_cells_mean() -> None:
    """ana scored all 4 tips of the cell's one scenario, bo two of them: the mean gives ana
    (1 + 1 + 1/2 + 1/2) / 4 = 75%, bo 25%, though ana made 4 of the 6 scores."""
    rows = [("t0", "ana"), ("t0", "bo"), ("t1", "ana"), ("t1", "bo"), ("t2", "ana"), ("t3", "ana")]
    frame = pl.DataFrame(
        {
            "model": ["m"] * 6,
            "prompt_version": ["v1"] * 6,
            "scenario_id": ["s0"] * 6,
            "candidate_id": [c for c, _ in rows],
            "judge_id": [j for _, j in rows],
        }
    )
    weights = cell_judge_weights(frame)
    assert weights["judge_id"].to_list() == ["ana", "bo"]
    assert weights["n_scores"].to_list() == [4, 2]
    assert weights["weight"].to_list() == pytest.approx([0.75, 0.25])


def test_a_spread_within_the_tolerance_is_the_same_judges() -> None:
    """ana scores every tip of two cells, bo all of one and fewer of the other: a spread of bo's
    weight under the tolerance is the same judges, over it is mixed (and with two cells both are
    half the spread from the median, so both are marked)."""

    def frame(bo_tips_second: int) -> pl.DataFrame:
        rows = []
        for cell, bo_tips in (("v1", 20), ("v2", bo_tips_second)):
            for k in range(20):  # one scenario, 20 tips, ana on all, bo on the first bo_tips
                rows.append((cell, f"{cell}-t{k}", "ana"))
                if k < bo_tips:
                    rows.append((cell, f"{cell}-t{k}", "bo"))
        return pl.DataFrame(
            {
                "model": ["m"] * len(rows),
                "prompt_version": [c for c, _, _ in rows],
                "scenario_id": ["s0"] * len(rows),
                "candidate_id": [t for _, t, _ in rows],
                "judge_id": [j for _, _, j in rows],
            }
        )

    # bo on 17 of 20 tips: weight 17/40 = 42.5% against 50%, a spread of 0.075 < 0.10
    assert not judge_mix(frame(17)).mixed
    # bo on 14 of 20 tips: 35% against 50%, a spread of 0.15
    mixed = judge_mix(frame(14))
    assert mixed.mixed and set(mixed.spread) == {"ana", "bo"}
    assert mixed.spread["bo"] == pytest.approx((0.35, 0.5))
    assert (mixed.cells["judge_note"] != "").all()
    assert TOLERANCE == 0.10


# ---------------------------------------------------------------- in the analysis


def test_a_harsh_judge_on_one_cell_is_named_and_the_ranking_is_no_verdict(
    harsh_on_one_cell: Analysis,
) -> None:
    a = harsh_on_one_cell
    board = a.leaderboard
    harsh = row_of(board, HARSH_CELL)
    assert harsh["judges"] == "judge-1 36 (100%)"
    assert harsh["judge_note"] == (
        "other judges than most cells: judge-0 0% (cells' median 100%), "
        "judge-1 100% (cells' median 0%)"
    )
    others = board.filter(
        (pl.col("model") != HARSH_CELL[0]) | (pl.col("prompt_version") != HARSH_CELL[1])
    )
    assert others["judges"].to_list() == ["judge-0 36 (100%)"] * 3
    assert others["judge_note"].to_list() == [""] * 3
    assert a.judge_note.startswith("The cells were not scored by the same judges")
    assert "judge-1 scored 1 of 4 cells" in a.judge_note
    assert "the ranking by mean is not a verdict" in a.judge_note
    # the words on top do not present the order of the means as a finding
    assert a.highest.startswith("Highest mean (over different judges per cell, so no verdict)")
    assert "from the best" not in a.headline and "no verdict" in a.headline
    assert "the best cell" not in a.baseline.note
    # the comparisons with the harsh judge's cell stay confounded: they decide, not the means
    confounded = a.comparisons.filter(pl.col("verdict") == "confounded")
    assert confounded.height == 3


def test_judges_on_every_cell_give_no_warning(both_everywhere: Analysis) -> None:
    a = both_everywhere
    assert a.judge_note == ""
    assert a.leaderboard["judges"].to_list() == ["judge-0 36 (50%), judge-1 36 (50%)"] * 4
    assert a.leaderboard["judge_note"].to_list() == [""] * 4
    assert a.highest.startswith("Highest mean: ")
    assert "no verdict" not in a.headline and "no verdict" not in a.baseline.note


# ---------------------------------------------------------------- report and CSV


def test_the_report_shows_the_judges_and_the_warning(
    harsh_on_one_cell: Analysis, both_everywhere: Analysis
) -> None:
    page = report.render(harsh_on_one_cell)
    header, body = page.split("<main>", 1)
    assert "Judges differ between cells:" in header  # in the summary on top
    board = body.split("<section id='leaderboard'>", 1)[1].split("</section>", 1)[0]
    assert "Judges differ between cells:" in board  # and where the ranking is shown
    assert ">Judges</th>" in board and ">Judge note</th>" in board
    assert "judge-1 36 (100%)" in board
    calm = report.render(both_everywhere)
    assert "Judges differ between cells" not in calm and ">Judge note</th>" not in calm
    assert "judge-0 36 (50%), judge-1 36 (50%)" in calm


def test_leaderboard_csv_ends_with_the_judges(harsh_on_one_cell: Analysis, tmp_path: Path) -> None:
    a = harsh_on_one_cell
    path, _ = write_tables(
        tmp_path, a.leaderboard, a.comparisons, dimensions=a.rubric.dimension_ids
    )
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    fixed = list(leaderboard_csv_columns(a.rubric.dimension_ids))
    assert header[: len(fixed)] == fixed  # old readers index these
    assert header[-2:] == ["judges", "judge_note"]
    by_cell = {(r["model"], r["prompt_version"]): r for r in rows}
    assert by_cell[HARSH_CELL]["judges"] == "judge-1 36 (100%)"
    assert by_cell[HARSH_CELL]["judge_note"].startswith("other judges than most cells")
    assert by_cell[("model-01", "v1")]["judge_note"] == ""


# ---------------------------------------------------------------- the notebook says the same


def callouts(fragment: str) -> list[str]:
    """The text of each ``mo.callout`` in a cell's HTML (marimo keeps it as JSON, escaped)."""
    found = re.findall(r"<marimo-callout-output data-html='([^']*)'", fragment)
    return [text_of(json.loads(html.unescape(value))) for value in found]


def test_the_notebook_and_the_report_warn_alike(tmp_path: Path) -> None:
    """The compare notebook, run through marimo's API on a snapshot of the harsh-judge
    experiment, shows the warning on top and above its leaderboard, and the same headline and
    evidence as the report ``tipbench compare --data`` writes."""
    assigned = np.zeros((2, 2, 2), dtype=bool)
    assigned[..., 0] = True
    assigned[0, 0] = [False, True]
    exp = synthetic.generate(
        2, 2, 12, 3, n_judges=2, judge_biases=[0.3, -1.0], assignment=assigned, seed=3
    )
    snapshot = write_snapshot(
        ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "judges"}),
        tmp_path / "snap",
    )
    out = tmp_path / "out"
    assert compare_main(["--data", str(snapshot), "--out", str(out)]) == EXIT_OK
    page = (out / "report.html").read_text(encoding="utf-8")
    header = page.split("<main>", 1)[0]
    report_lines = all_text(r"<p class='(?:headline|sub[^']*)'>(.*?)</p>", header)
    [warning] = all_text(r"<div class='warnings judge-mix'[^>]*>(.*?)</div>", header)

    spec = importlib.util.spec_from_file_location("compare_notebook_judges", NOTEBOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = sys.argv
    sys.argv = [str(NOTEBOOK), "--data", str(snapshot)]
    try:
        outputs, _ = module.app.run(defs={"is_script": False})
    finally:
        sys.argv = argv
    texts = [getattr(output, "text", "") or "" for output in outputs]
    shown = notebook_cell(texts, "verdicts")
    assert all_text(r'<span class="paragraph">(.*?)</span>', shown)[: len(report_lines)] == (
        report_lines
    )
    assert "no verdict" in report_lines[0]
    assert warning.startswith("Judges differ between cells: The cells were not scored")
    assert callouts(shown) == [warning]
    board = notebook_cell(texts, "leaderboard")
    assert callouts(board) == [warning]
    assert "judge_note" in board and "judge-1 36 (100%)" in board


# ---------------------------------------------------------------- the judge-adjusted mean


def test_the_judge_adjusted_mean_is_right_where_the_raw_mean_is_biased() -> None:
    """bench/judge_adjusted.py's researcher's case, smaller: 6 cells, 12 scenarios, 2 tips,
    discrete 1-5 scores, judges biased -0.5, 0, +0.5; the neutral judge scores every cell, the
    harsh one the first three, the lenient one the last three. Over 40 replicates the raw mean
    of the harsh judge's cells is about 0.7 points low and the lenient one's 0.7 high; the
    adjusted mean is within 0.25 of the truth on both, and closer overall."""
    bench = load_bench()
    raw, adjusted = [], []
    for seed in range(40):
        frame = bench.replicate("halves", 12, 500 + seed)
        raw.append(frame.with_columns(e=pl.col("raw") - pl.col("truth")))
        adjusted.append(frame.with_columns(e=pl.col("adjusted") - pl.col("truth")))
    raw_all, adj_all = pl.concat(raw), pl.concat(adjusted)
    for side, sign in (("harsh", -1), ("lenient", 1)):
        raw_err = raw_all.filter(pl.col(side))["e"].mean()
        adj_err = adj_all.filter(pl.col(side))["e"].mean()
        assert sign * raw_err > 0.45, (side, raw_err)
        assert abs(adj_err) < 0.25, (side, adj_err)
    rmse = {
        name: float((f["e"] ** 2).mean() ** 0.5) for name, f in (("raw", raw_all), ("adj", adj_all))
    }
    assert rmse["adj"] < 0.8 * rmse["raw"], rmse


def test_the_judge_adjusted_mean_is_the_raw_mean_when_every_judge_scored_everything(
    both_everywhere: Analysis,
) -> None:
    board = both_everywhere.leaderboard
    assert board["composite_judge_adjusted"].to_numpy() == pytest.approx(
        board["composite_mean"].to_numpy()
    )


def test_no_judge_adjusted_mean_when_the_judges_share_no_cell(harsh_on_one_cell: Analysis) -> None:
    """bo scored one cell alone and ana the others: nothing tells bo's leniency from that cell's
    quality, so no cell gets an adjusted mean, and the warning says why."""
    a = harsh_on_one_cell
    assert a.leaderboard["composite_judge_adjusted"].is_null().all()
    assert "No judge-adjusted mean for 4 of 4 cells" in a.judge_note


def test_the_linked_case_names_the_adjusted_order() -> None:
    """Both judges scored one shared cell, so the harsh judge's leniency is learnt there."""
    assigned = np.zeros((2, 2, 2), dtype=bool)
    assigned[..., 0] = True
    assigned[0, 0] = True
    assigned[0, 1] = [False, True]
    exp = synthetic.generate(
        2, 2, 12, 3, n_judges=2, judge_biases=[0.3, -1.0], assignment=assigned, seed=3
    )
    a = analysis_of(exp)
    assert a.leaderboard["composite_judge_adjusted"].is_not_null().all()
    assert "a judge-adjusted mean (cell + scenario + judge" in a.judge_note
    assert ">Judge-adjusted</th>" in report.render(a)
