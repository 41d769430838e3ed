"""Verdicts exact at the edges (issue 18): exact zeros and ties, a floor that counts the
interval's condition too, and words that call no cell the best without a verdict.

Each test reproduces an audit finding on a snapshot written by hand and goes through the entry
points a user has: :func:`tipbench_lib.compare.analysis.analyse` (the notebook's) and
``tipbench compare --data`` on a snapshot (the report's and the tables').
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from tipbench_lib import stats
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.load import ExperimentData, write_snapshot
from tipbench_lib.core.errors import EXIT_OK
from tipbench_lib.stats.pairs import judge_grid, pair_differences

from .handmade import frames

A, B = ("mA", "v1"), ("mB", "v1")


def analysed(scores: dict, **options) -> Analysis:
    cells, candidates, judgments = frames(scores)
    return analyse(ExperimentData(cells, candidates, judgments, {}), Options(**options))


def compared_by_cli(scores: dict, tmp_path: Path) -> list[dict[str, str]]:
    """``tipbench compare --data`` on a snapshot of ``scores``: the rows of comparisons.csv."""
    cells, candidates, judgments = frames(scores)
    data = ExperimentData(cells, candidates, judgments, {"experiment": "edges"})
    snapshot = write_snapshot(data, tmp_path / "snap")
    out = tmp_path / "out"
    assert compare_main(["--data", str(snapshot), "--out", str(out)]) == EXIT_OK
    with (out / "comparisons.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- 1: exact zeros and ties


def zero_in_one_scenario() -> dict:
    """2 cells x 6 scenarios x 2 people x 3 tips. In scenario 0 person X finds A ahead by 1/3,
    person Y finds B ahead by 1/3: the scenario's difference is exactly 0. In the other five A
    beats B by 1 for both people."""
    a = {"X": [[15, 15, 15]] + [[10, 11, 12]] * 5, "Y": [[12, 12, 13]] + [[9, 10, 11]] * 5}
    b = {"X": [[15, 15, 14]] + [[9, 10, 11]] * 5, "Y": [[12, 13, 13]] + [[8, 9, 10]] * 5}
    return {A: a, B: b}


def test_an_exact_zero_is_dropped_not_counted_as_a_tiny_difference(tmp_path: Path) -> None:
    """+1/3 and -1/3 average to exactly 0, which the signed-rank test drops: five differences
    remain, so the smallest p is 1/16 and the pair cannot pass alpha = 0.05. In floating point
    the zero was about 1e-16, counted as a sixth difference: floor 1/32, p 0.031, 'better'."""
    exact = sps.wilcoxon([1, 1, 1, 1, 1]).pvalue  # the zero dropped: 2 / 2^5
    assert exact == pytest.approx(0.0625)
    analysis = analysed(zero_in_one_scenario())
    [row] = analysis.comparisons.iter_rows(named=True)
    assert row["p_wilcoxon"] == exact
    assert row["p_permutation"] == exact
    assert row["min_p_attainable"] == exact
    assert row["verdict"] == "underpowered"
    assert not analysis.headline.startswith("Winner")
    [csv_row] = compared_by_cli(zero_in_one_scenario(), tmp_path)
    assert float(csv_row["p_wilcoxon"]) == exact
    assert float(csv_row["min_p_attainable"]) == exact
    assert csv_row["verdict"] == "underpowered"


def test_equal_differences_stay_tied_whatever_composites_they_come_from() -> None:
    """Three scenarios differ by 1/3 in size (16 - 15, 5 - 6 and 7 - 6 in thirds of a point): a
    tie of three, which the test must rank alike. In floating point each 1/3 came out a little
    different, the tie was broken by rounding and p fell from 0.125 to 0.094."""
    a = {"ann": [[5, 5, 16], [5, 5, 5], [5, 5, 7], [12, 12, 12], [12, 12, 12], [13, 13, 13]]}
    b = {"ann": [[5, 5, 15], [5, 5, 6], [5, 5, 6], [10, 10, 10], [10, 10, 10], [10, 10, 10]]}
    [row] = analysed({A: a, B: b}).comparisons.iter_rows(named=True)
    thirds = [1, -1, 1, 6, 6, 9]
    assert row["p_wilcoxon"] == pytest.approx(sps.wilcoxon(thirds).pvalue, abs=1e-12)
    assert row["p_wilcoxon"] == pytest.approx(0.125)
    assert row["diff_mean"] == pytest.approx(sum(thirds) / 18, abs=1e-12)


def test_pair_differences_are_exact_rationals() -> None:
    """The differences carry an integer numerator per scenario over one denominator:
    zero is 0 and equal differences are equal, exactly."""
    cells, candidates, judgments = frames(zero_in_one_scenario())
    diffs = pair_differences(judge_grid(stats.judge_scores(cells, candidates, judgments)))
    numerators = diffs.numerators[0, : diffs.n_usable[0]]
    assert numerators.dtype == np.int64
    assert diffs.denominator == 6  # 3 tips x 2 judges
    assert numerators.tolist() == [0, 6, 6, 6, 6, 6]
    assert diffs.diffs[0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]


# ---------------------------------------------------------------- 5: what "cannot pass" means


def sixths(numerators: list[int]) -> dict:
    """One person, 6 tips per cell and scenario: B scores 10 on every tip, A's tips sum to 60 +
    the numerator, so scenario s differs by numerators[s] / 6 points."""
    a, b = [], []
    for numerator in numerators:
        total, tips = 60 + numerator, []
        for k in range(6):
            tips.append(total // 6 + (1 if k < total % 6 else 0))
        a.append(tips)
        b.append([10] * 6)
    return {A: {"ann": a}, B: {"ann": b}}


def test_a_pair_whose_interval_cannot_exclude_zero_is_underpowered_not_indistinguishable(
    tmp_path: Path,
) -> None:
    """Differences -0.5, 3.33, -2.17, 0.33, -0.33, 0.33: the signed-rank floor (1/32) is below
    alpha, but even with every sign positive the 95% t interval's lower bound is -0.18, so no
    scores on these scenarios could make the pair better or worse. It read 'indistinguishable
    ... about 3.5 points would be detected 80% of the time'."""
    numerators = [-3, 20, -13, 2, -2, 2]
    magnitudes = np.abs(numerators) / 6
    best_case = magnitudes.mean() - sps.t.ppf(0.975, 5) * magnitudes.std(ddof=1) / np.sqrt(6)
    assert best_case == pytest.approx(-0.18, abs=0.005)
    analysis = analysed(sixths(numerators))
    [row] = analysis.comparisons.iter_rows(named=True)
    assert row["min_p_attainable"] == pytest.approx(1 / 32)
    assert row["interval_reach"] == pytest.approx(best_case)
    assert row["verdict"] == "underpowered"
    sentence = stats.sentence(row)
    assert "detected 80% of the time" not in sentence
    assert "even if every scenario favoured the same cell" in sentence
    assert "-0.2" in sentence or "−0.2" in sentence
    [csv_row] = compared_by_cli(sixths(numerators), tmp_path)
    assert csv_row["verdict"] == "underpowered"
    assert float(csv_row["interval_reach"]) == pytest.approx(best_case)


def test_a_pair_that_could_pass_both_conditions_stays_indistinguishable() -> None:
    """The same scenarios with smaller swings: all signs positive would give an interval above
    0, so the mixed signs observed make it 'indistinguishable', with its detectable difference."""
    [row] = analysed(sixths([-6, 9, -6, 6, 6, 9])).comparisons.iter_rows(named=True)
    assert row["interval_reach"] > 0
    assert row["verdict"] == "indistinguishable"
    assert "detected 80% of the time" in stats.sentence(row)


# ---------------------------------------------------------------- 7: no "best" without a verdict


def undecided() -> dict:
    """Three cells over 6 scenarios, one person: every pair underpowered (floor 1/32 above
    0.05/3), so nothing is decided, though one cell has the highest mean."""
    base = [9, 11, 10, 12, 9, 10]
    return {
        ("m0", "v1"): {"ann": [b + 2 for b in base]},
        ("m1", "v1"): {"ann": [b + 1 for b in base]},
        ("m2", "v1"): {"ann": base},
    }


def test_no_cell_is_called_the_best_when_nothing_is_decided(tmp_path: Path) -> None:
    """The headline, the lines under it, the baseline's note and the verdict sentences, in the
    analysis and in the report ``tipbench compare --data`` writes, say 'highest mean'. They said
    'cannot be separated from the best' and 'Against m0 · v1, the best cell, chosen after
    seeing the data'."""
    analysis = analysed(undecided())
    assert analysis.summary.winner is None
    assert set(analysis.comparisons["verdict"]) == {"underpowered"}
    words = [analysis.headline, *analysis.evidence, analysis.baseline_intro, *analysis.verdicts]
    assert not [w for w in words if "best" in w.lower()], words
    assert "highest mean" in analysis.headline
    assert analysis.baseline_intro.startswith("Against m0 · v1, the cell with the highest mean,")
    cells, candidates, judgments = frames(undecided())
    snapshot = write_snapshot(ExperimentData(cells, candidates, judgments, {}), tmp_path / "s")
    assert compare_main(["--data", str(snapshot), "--out", str(tmp_path / "out")]) == EXIT_OK
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))
    assert "best" not in visible.lower()
    assert "highest mean" in visible


def test_a_winner_is_still_named_as_one() -> None:
    """Words follow the verdict: a cell that beats every other is the winner."""
    base = [9, 11, 10, 12, 9, 10, 11, 9, 10, 12]
    scores = {("m0", "v1"): {"ann": [b + 4 for b in base]}, ("m1", "v1"): {"ann": base}}
    analysis = analysed(scores)
    assert analysis.headline.startswith("Winner: m0 · v1")
