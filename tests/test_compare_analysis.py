"""One analysis, two displays: the compare notebook and the report say the same thing.

The notebook is run through marimo's own API (``app.run``) on the shipped sample, the report is
written by ``tipbench compare --sample`` in the same process, and the sentences a reader sees in
each are read back out of the HTML they produced: they must be equal, line for line. The other
tests pin what the analysis now carries for both (the length-adjusted view, the rubric's ranges,
loading warnings) and that the page's skeleton and CSS ship as package files.
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import re
import sys
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from tipbench_lib import stats
from tipbench_lib.compare import analysis as compare_analysis
from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.job import load_source
from tipbench_lib.compare.tables import write_tables
from tipbench_lib.core.errors import EXIT_OK, TipbenchError
from tipbench_lib.core.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "compare.py"


def text_of(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities resolved, spaces joined."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def all_text(pattern: str, page: str) -> list[str]:
    return [text_of(m) for m in re.findall(pattern, page, re.S)]


@pytest.fixture(scope="module")
def notebook_outputs() -> list[str]:
    """The HTML of every cell output of ``notebooks/compare.py`` run on the shipped sample."""
    spec = importlib.util.spec_from_file_location("compare_notebook_under_test", NOTEBOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = sys.argv
    sys.argv = [str(NOTEBOOK)]  # marimo reads the notebook's own arguments from here
    try:
        outputs, _ = module.app.run(defs={"is_script": False})
    finally:
        sys.argv = argv
    return [getattr(output, "text", "") or "" for output in outputs]


def notebook_cell(outputs: list[str], heading_id: str) -> str:
    [found] = [o for o in outputs if f'id="{heading_id}"' in o]
    return found


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report")
    assert compare_main(["--sample", "--out", str(out)]) == EXIT_OK
    return (out / "report.html").read_text(encoding="utf-8")


def test_notebook_and_report_say_the_same_headline_evidence_and_verdicts(
    notebook_outputs: list[str], report_page: str
) -> None:
    shown = notebook_cell(notebook_outputs, "verdicts")
    notebook_lines = all_text(r'<span class="paragraph">(.*?)</span>', shown)
    notebook_verdicts = all_text(r"<li>(.*?)</li>", shown)
    header = report_page.split("<main>", 1)[0]
    report_lines = all_text(r"<p class='(?:headline|sub[^']*)'>(.*?)</p>", header)
    verdicts = re.search(r"<ul class='sentences'>(.*?)</ul>", report_page, re.S).group(1)
    report_verdicts = all_text(r"<li>(.*?)</li>", verdicts)

    assert report_lines[0].startswith("No single winner")  # the sample's headline
    assert notebook_lines[: len(report_lines)] == report_lines
    against = notebook_lines[len(report_lines)]
    section = re.search(r"<section id='verdicts'>(.*?)</section>", report_page, re.S).group(1)
    assert against.startswith("Against gemma3-270m · v1, the cell with the highest mean, chosen")
    assert against in text_of(section)
    assert len(report_verdicts) == 3 and notebook_verdicts == report_verdicts  # grouped


def test_notebook_and_report_show_the_same_length_adjusted_view(
    notebook_outputs: list[str], report_page: str
) -> None:
    shown = notebook_cell(notebook_outputs, "length-a-sensitivity-view")
    slopes = re.search(r"<ul class='slopes'>(.*?)</ul>", report_page, re.S).group(1)
    report_slopes = all_text(r"<li>(.*?)</li>", slopes)
    assert report_slopes and all_text(r"<li>(.*?)</li>", shown) == report_slopes
    sample = load_source(None, None)
    fit = stats.length_adjusted(
        stats.judgment_scores(
            sample.cells, sample.candidates, sample.judgments, judges=["llm:claude-assistant"]
        )
    )
    gamma = fit.slopes.row(0, named=True)["gamma"]
    assert report_slopes == [
        f"llm:claude-assistant: verbosity slope {gamma:+.2f} points per SD of tip length "
        f"(95% CI {fit.slopes['gamma_lo'][0]:+.2f} to {fit.slopes['gamma_hi'][0]:+.2f}) within "
        "a scenario and a cell, over 216 tips: it scores longer tips lower."
    ]
    assert "id='chart-length-adjusted'" in report_page
    note = text_of(report_page.split("<ul class='slopes'>", 1)[1].split("</ul>", 1)[1])
    assert note.startswith("With each judge's length effect removed")
    assert note.split(".")[0] in text_of(shown)


def test_the_notebook_no_longer_words_or_picks_anything_itself() -> None:
    """Baseline choice, "involving", the summary and the sentences live in the analysis only."""
    source = NOTEBOOK.read_text(encoding="utf-8")
    for reimplemented in (
        "involving(",
        "summary()",
        "shown_baseline",
        "stats.sentence",
        "sentence(",
    ):
        assert reimplemented not in source, reimplemented
    assert "compare_analysis.analyse(" in source


def test_the_page_skeleton_and_css_are_package_files(report_page: str) -> None:
    templates = resources.files("tipbench_lib.compare").joinpath("templates")
    for name in ("report.html", "report.css", "embed.js"):
        assert templates.joinpath(name).is_file(), name
    css = templates.joinpath("report.css").read_text(encoding="utf-8")
    assert css in report_page
    source = (ROOT / "tipbench_lib" / "compare" / "report.py").read_text(encoding="utf-8")
    assert "<!DOCTYPE" not in source and "box-sizing" not in source and "vegaEmbed(" not in source
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"compare/templates/*"' in pyproject, "the templates ship with the package"


def test_ranges_and_dimension_names_come_from_the_rubric_passed_in() -> None:
    """No "2–17" or dimension list is written in the analysis or the report: both read the rubric
    object; a rubric with other weights and names changes the page accordingly."""
    sample = load_source(None, None)
    shipped = load_rubric("tip-v1")
    other = dataclasses.replace(
        shipped,
        weights={k: 2 * v for k, v in shipped.weights.items()},
        dimensions=tuple(
            dataclasses.replace(d, name=f"{d.name} (ours)") for d in shipped.dimensions
        ),
    )
    low, high = other.composite_range
    assert (low, high) != shipped.composite_range
    result = analyse(sample, Options(n_boot=100, n_perm=200), rubric=other)
    assert result.scale.composite == (low, high)
    page = report.render(result)
    assert f"on the {low:g}–{high:g} scale" in result.highest
    assert f"Composite on the {low:g}–{high:g} scale of rubric tip-v1" in page
    for dimension in other.dimensions:
        assert f">{dimension.name}</th>" in page
    for module in (compare_analysis, report):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "2–17" not in source and "DIMENSIONS" not in source, module.__name__


def test_the_experiment_rubric_is_the_judgments_one_and_two_versions_are_refused() -> None:
    sample = load_source(None, None)
    assert compare_analysis.experiment_rubric(sample).version == "tip-v1"
    mixed = dataclasses.replace(
        sample,
        judgments=sample.judgments.with_columns(
            pl.when(pl.col("judge_id") == "llm:smollm2-135m")
            .then(pl.lit("tip-v2"))
            .otherwise(pl.col("rubric_version"))
            .alias("rubric_version")
        ),
    )
    with pytest.raises(TipbenchError, match="rubric versions tip-v1, tip-v2"):
        analyse(mixed)


def test_a_baseline_named_before_seeing_the_data_is_labelled_so() -> None:
    sample = load_source(None, None)
    named = analyse(sample, Options(baseline=("smollm2-135m", "v1"), n_boot=100, n_perm=200))
    assert named.baseline.named and named.baseline.cell == ("smollm2-135m", "v1")
    assert named.baseline.note == "the baseline named before seeing the data"
    assert named.against_baseline.height == 5
    assert (named.comparison_rows["family"].head(5) == "primary").all()
    picked = analyse(sample, Options(n_boot=100, n_perm=200))
    assert not picked.baseline.named and "chosen after seeing the data" in picked.baseline.note
    with pytest.raises(TipbenchError, match="not a cell here"):
        analyse(sample, Options(baseline=("nope", "v1")))


def test_a_cell_that_repeats_its_tip_shows_it_beside_its_quality(tmp_path: Path) -> None:
    """Every tip of one cell made identical: its distinct-2 falls to 1/K and every tip after the
    first is a near repeat, in the analysis, the report's leaderboard and leaderboard.csv; the
    other cells keep theirs."""
    sample = load_source(None, None)
    repeated = sample.cells.row(0, named=True)
    cell_ids = sample.cells.filter(
        (pl.col("model") == repeated["model"])
        & (pl.col("prompt_version") == repeated["prompt_version"])
    )["cell_id"]
    candidates = sample.candidates.with_columns(
        pl.when(pl.col("cell_id").is_in(cell_ids.implode()))
        .then(pl.lit("Take a short walk after lunch to clear your head before the meeting."))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    data = dataclasses.replace(sample, candidates=candidates)
    result = analyse(data, Options(n_boot=100, n_perm=200))
    board = result.leaderboard
    key = (pl.col("model") == repeated["model"]) & (
        pl.col("prompt_version") == repeated["prompt_version"]
    )
    tips_per_scenario = (
        candidates.join(sample.cells, on="cell_id").filter(key).group_by("scenario_id").len()
    )["len"].max()
    row = board.filter(key).row(0, named=True)
    assert row["distinct_2"] == pytest.approx(1 / tips_per_scenario)
    assert row["near_repeat_share"] == pytest.approx(1 - 1 / tips_per_scenario)
    before = analyse(sample, Options(n_boot=100, n_perm=200)).leaderboard
    columns = ["model", "prompt_version", "distinct_2", "near_repeat_share"]
    assert (
        board.filter(~key)
        .select(columns)
        .sort(columns[:2])
        .equals(before.filter(~key).select(columns).sort(columns[:2]))
    )
    assert (before.filter(key)["distinct_2"] > 2 / tips_per_scenario).all()
    page = report.render(result)
    assert ">Distinct-2</th>" in page and ">Near repeats</th>" in page
    leaderboard_csv, _ = write_tables(
        tmp_path, board, result.comparisons, dimensions=result.rubric.dimension_ids
    )
    written = pl.read_csv(leaderboard_csv)
    assert {"distinct_2", "distinct_2_min", "near_repeat_share"} <= set(written.columns)


def test_the_baseline_people_judged_under_is_the_named_baseline() -> None:
    """The judge phase records the family before any score; compare takes its baseline as named
    before the data, and a different --baseline is used but warned about."""
    sample = load_source(None, None)
    recorded = {
        "baseline": ["smollm2-135m", "v1"],
        "named_at": "2026-12-01T10:00:00+00:00",
        "named_by": "ana",
    }
    data = dataclasses.replace(sample, provenance={**sample.provenance, "queue_family": recorded})
    options = Options(n_boot=100, n_perm=200)
    taken = analyse(data, options)
    assert taken.baseline.named and taken.baseline.cell == ("smollm2-135m", "v1")
    assert "named when judging began (ana, 2026-12-01T10:00:00+00:00)" in taken.baseline.note
    assert (taken.comparison_rows["family"].head(5) == "primary").all()
    assert taken.against_baseline.height == 5
    assert "named when judging began" in report.render(taken)
    other = analyse(data, dataclasses.replace(options, baseline=("gemma3-270m", "v1")))
    assert other.baseline.cell == ("gemma3-270m", "v1")
    assert any("people judged with smollm2-135m · v1" in w for w in other.warnings)
    # A recorded baseline outside the cells analysed (e.g. filtered out) is not forced on them.
    gone = dataclasses.replace(
        data, provenance={**sample.provenance, "queue_family": {**recorded, "baseline": ["x", "y"]}}
    )
    assert not analyse(gone, options).baseline.named
