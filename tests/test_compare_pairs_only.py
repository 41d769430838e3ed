"""An experiment judged in pairs only (issue 21: "a team can choose per experiment").

Compare refused such an experiment ("score some tips on the rubric too", exit 2) and the Airflow
DAG skipped compare when no tip had a rubric score. Now the pairwise analysis is the whole
analysis: the headline names the strongest cell only when the pairwise verdicts make it the
winner, the verdicts are the pairwise ones, the report and the notebook show the pairs, speed,
the explorer and provenance, and say that the rubric's views are absent and why
(``docs/architecture.md`` section 13, "Pairs only").
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import polars as pl
import pytest

from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import RUBRIC_ABSENT, Analysis, analyse, view_choices
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.job import write_outputs
from tipbench_lib.compare.load import ExperimentData, write_snapshot
from tipbench_lib.compare.summary_fields import summary_fields
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import EXIT_OK, TipbenchError
from tipbench_lib.validation import synthetic

from .pair_data import pair_judgments, pairs_frame
from .test_compare_analysis import notebook_cell, text_of
from .test_compare_pairwise import OPTIONS, TOP, data_of, experiment, run_notebook


@pytest.fixture(scope="module")
def exp() -> synthetic.SyntheticExperiment:
    return experiment()


def pairs_only(exp: synthetic.SyntheticExperiment, *judges: tuple[str, str]) -> ExperimentData:
    """The experiment's tips with pair judgments of ``judges`` ((id, kind)) and no rubric score."""
    made = []
    for seed, (judge, kind) in enumerate(judges, start=1):
        made += pair_judgments(exp, judge, kind=kind, tips=2, seed=seed)
    data = data_of(exp, pairs_frame(made))
    return dataclasses.replace(data, judgments=exp.judgments.head(0))


@pytest.fixture(scope="module")
def people_and_llm(exp: synthetic.SyntheticExperiment) -> ExperimentData:
    return pairs_only(exp, ("judge-0", "human"), ("judge-1", "llm"))


@pytest.fixture(scope="module")
def found(people_and_llm: ExperimentData) -> Analysis:
    return analyse(people_and_llm, OPTIONS)


def test_pairs_only_is_analysed_not_refused(found: Analysis) -> None:
    assert not found.rubric_judged
    pw = found.pairwise
    assert pw is not None and pw.leaderboard.height == 6
    assert found.leaderboard.height == 0 and found.comparisons.height == 0
    # the people's pairs by default, as the rubric's default view is the people
    assert found.view.name == "people" and found.view.judges == ("judge-0",)


def test_the_headline_is_the_pairwise_verdict(found: Analysis) -> None:
    """The strongest cell is named a winner only when it beats every other cell in the
    pairwise comparisons; the words speak of strength and pairs, never of a mean composite."""
    pw = found.pairwise
    strongest = tuple(pw.leaderboard.select("model", "prompt_version").row(0))
    assert strongest == TOP
    assert cell_label(*TOP) in found.headline
    assert "strength" in found.headline or "Winner" in found.headline
    assert "judged by people (judge-0)" in found.headline, found.headline
    said = " ".join((found.headline, *found.evidence, found.family_note))
    assert "composite" not in said and "highest mean" not in said, said
    assert found.verdict_lines == pw.verdict_lines and found.verdict_lines
    assert found.baseline.cell == pw.baseline and not found.baseline.named
    assert "Holm across the 15 primary comparisons, every pair" in found.family_note
    assert found.pairwise_lines == ()  # the pairwise headline is the headline, not said twice


def test_every_judge_is_listed_with_its_pairs_counted(found: Analysis) -> None:
    """Who judged, even when no tip has a score: the people and the LLM judge of pairs."""
    rows = {r["judge_id"]: r for r in found.judges.iter_rows(named=True)}
    assert set(rows) == {"judge-0", "judge-1"}
    assert rows["judge-0"]["n_pairs"] == rows["judge-1"]["n_pairs"] == 240
    assert rows["judge-1"]["description"].startswith("LLM judge")
    assert rows["judge-0"]["n_judgments"] is None


def test_it_says_the_rubric_views_are_absent_and_why(found: Analysis) -> None:
    assert found.rubric_note_lines == (RUBRIC_ABSENT,)
    assert "judged in pairs only" in RUBRIC_ABSENT and "tipbench judge" in RUBRIC_ABSENT


def test_a_named_baseline_makes_the_primary_family(people_and_llm: ExperimentData) -> None:
    base = ("model-01", "v2")
    named = analyse(people_and_llm, dataclasses.replace(OPTIONS, baseline=base))
    assert named.baseline.cell == base and named.baseline.named
    primary = named.pairwise.comparisons.filter(pl.col("family") == "primary")
    assert primary.height == 5
    assert "Holm across the 5 primary comparisons against the baseline model-01 · v2" in (
        named.family_note
    )


def test_an_llm_judges_pairs_alone_are_provisional_and_say_so(
    exp: synthetic.SyntheticExperiment,
) -> None:
    """No person judged: the busiest LLM judge's pairs, provisional (nobody to check it
    against), and the headline says so."""
    found = analyse(pairs_only(exp, ("judge-1", "llm")), OPTIONS)
    assert found.view.name == "judge-1" and found.provisional
    assert "provisional" in found.headline


def test_a_view_the_pairs_do_not_have_is_refused_by_name(people_and_llm: ExperimentData) -> None:
    with pytest.raises(TipbenchError, match=r"no judge view 'judge-9'.*people, judge-1, all"):
        analyse(people_and_llm, dataclasses.replace(OPTIONS, view="judge-9"))
    chosen = analyse(people_and_llm, dataclasses.replace(OPTIONS, view="judge-1"))
    assert chosen.view.judges == ("judge-1",)


def test_the_notebooks_views_come_from_the_pairs_when_no_tip_is_scored(
    exp: synthetic.SyntheticExperiment, people_and_llm: ExperimentData
) -> None:
    """The judge-view control offered only "all" (the empty rubric panel's one view), which
    would have mixed the LLM judge's pairs into the people's."""
    assert view_choices(people_and_llm) == (["people", "judge-1", "all"], "people")
    assert view_choices(data_of(exp))[1] == "people"


def test_nothing_judged_at_all_is_still_refused(exp: synthetic.SyntheticExperiment) -> None:
    empty = dataclasses.replace(data_of(exp), judgments=exp.judgments.head(0))
    with pytest.raises(TipbenchError, match="no judged candidates to report on: judge some"):
        analyse(empty, OPTIONS)


def test_the_report_shows_the_pairs_and_says_what_is_absent(found: Analysis) -> None:
    page = report.render(found)
    nav = re.findall(r"href='#([^']+)'", re.search(r"<nav>(.*?)</nav>", page, re.S).group(1))
    assert nav == ["pairwise", "judges", "speed", "explorer", "provenance"]
    judges = text_of(re.search(r"<section id='judges'>(.*?)</section>", page, re.S).group(1))
    assert "Pair judgments" in judges and "judge-1" in judges
    header = text_of(page.split("<main>", 1)[0])
    assert found.headline in header and "judged in pairs only" in header
    assert set(report.chart_blocks(found)) == {"pairwise_baseline", "pairwise_matrix"}
    assert "Composite [" not in page and "Rubric dimensions" not in page


def test_the_outputs_are_the_pairwise_tables_and_the_page(found: Analysis, tmp_path: Path) -> None:
    write_outputs(tmp_path, found)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pairwise.csv",
        "pairwise_leaderboard.csv",
        "report.html",
    ]


def test_the_summary_run_ranks_the_cells_by_strength(found: Analysis) -> None:
    fields = summary_fields(found)
    assert fields.metrics["n_cells"] == 6.0 and fields.metrics["n_pair_judgments"] > 0
    assert not any(k.startswith("composite") for k in fields.metrics)
    assert fields.tags["top_cell"] == fields.tags["pairwise_top_cell"] == "model-00:v1"
    assert fields.tags["headline"] == found.headline
    assert "| cell | composite |" not in fields.tags["mlflow.note.content"]


def test_the_command_and_the_notebook_read_a_pairs_only_snapshot(
    people_and_llm: ExperimentData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = write_snapshot(people_and_llm, tmp_path / "snapshot")
    out = tmp_path / "out"
    assert compare_main(["--data", str(snapshot), "--out", str(out)]) == EXIT_OK
    printed = capsys.readouterr().out
    [tables] = [line for line in printed.splitlines() if line.startswith("tables: ")]
    assert [Path(t).name for t in tables.removeprefix("tables: ").split(", ")] == [
        "pairwise_leaderboard.csv",
        "pairwise.csv",
    ]
    page = (out / "report.html").read_text(encoding="utf-8")
    headline = text_of(re.search(r"<p class='headline'>(.*?)</p>", page, re.S).group(1))

    outputs = run_notebook(["--data", str(snapshot)])
    verdicts = text_of(notebook_cell(outputs, "verdicts"))
    assert headline in verdicts and "judged in pairs only" in verdicts
    assert notebook_cell(outputs, "pairwise-judging")
    assert not [o for o in outputs if 'id="leaderboard"' in o]
