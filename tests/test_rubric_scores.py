"""The rubric file is the only definition of a score: a new rubric changes everything, with no code.

brief-v1 (``tests/rubric_files.py``: two dimensions on 1-7, one flag of its own, other weights) is
written to a temporary data directory and every part that shows, asks for, checks or counts a
score must follow it: the loader, the one validator, the composite, the LLM judge's instructions
and schema, the frames' columns, the statistics and the charts. None of them may say tip-v1's
"1 to 5" or "2–17".
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import polars as pl
import pytest

from tipbench_lib import stats
from tipbench_lib.compare import charts, report
from tipbench_lib.compare.analysis import Options, analyse, experiment_rubric
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.compare.tables import write_tables
from tipbench_lib.core.errors import DataFileError, JudgingError, TipbenchError
from tipbench_lib.core.paths import DATA_ENV
from tipbench_lib.core.records import Candidate
from tipbench_lib.core.rubric import load_rubric, parse_rubric, render_rubric_markdown
from tipbench_lib.core.schema import frame_schemas
from tipbench_lib.judge.exchange import ImportRejected, validate_document
from tipbench_lib.judge.llm import judge_instructions, parse_answer
from tipbench_lib.judge.session import Scores
from tipbench_lib.stats.scale import ScoreScale

from .rubric_files import (
    BRIEF,
    BRIEF_RANGE,
    BRIEF_TEXT,
    BRIEF_WEIGHTS,
    TOO_LONG_CHARS,
    brief_composite,
    brief_scores,
    write_brief_rubric,
)


@pytest.fixture
def brief(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_brief_rubric(tmp_path / "mine")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "mine"))
    return load_rubric(BRIEF)


def test_a_new_rubric_is_one_file_in_the_data_directory(brief) -> None:
    assert brief.dimension_ids == ("clarity", "kindness")
    assert brief.flag_ids == ("too_long",) and brief.automatic_flag_ids == ("too_long",)
    assert brief.scores == tuple(range(1, 8))
    assert brief.weights == BRIEF_WEIGHTS
    assert brief.composite_range == BRIEF_RANGE
    assert (brief.scale_text, brief.composite_text) == ("1–7", "1–28")
    page = render_rubric_markdown(brief)
    assert "from 1 to 7" in page and "from 1 to 28" in page and "Too long" in page


def test_its_composite_follows_its_weights(brief) -> None:
    for clarity, kindness, too_long in itertools.product(range(1, 8), range(1, 8), (False, True)):
        values = brief_scores(clarity, kindness, too_long)
        assert brief.composite_of(values) == brief_composite(clarity, kindness, too_long)


def test_its_automatic_check_is_its_own(brief) -> None:
    short = "Submit your timesheets tonight."
    long = "Submit your timesheets tonight, " + "x" * TOO_LONG_CHARS
    assert brief.auto_checks(short).flags == {"too_long": False}
    checks = brief.auto_checks(long)
    assert checks.flags == {"too_long": True}
    assert any(f"more than {TOO_LONG_CHARS}" in r for r in checks.reasons)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"clarity": 8, "kindness": 3, "too_long": False},
            "clarity must be an integer from 1 to 7",
        ),
        (
            {"clarity": 0, "kindness": 3, "too_long": False},
            "clarity must be an integer from 1 to 7",
        ),
        ({"clarity": 3, "kindness": 3, "too_long": "no"}, "too_long must be true or false"),
        ({"clarity": 3, "too_long": False}, "missing kindness"),
        (
            {"clarity": 3, "kindness": 3, "too_long": False, "tone": 4},
            "unknown score field(s) tone",
        ),
    ],
)
def test_one_validator_says_the_same_wherever_a_score_comes_from(
    brief, values: dict, message: str
) -> None:
    """The app's save, an import file and the LLM judge's answer all ask the rubric."""
    assert any(message in p for p in brief.problems(values)), brief.problems(values)
    with pytest.raises(JudgingError, match=re.escape(message)):
        brief.composite_of(values)
    assert any(message in p for p in Scores(values).problems(brief))

    candidate = Candidate("c1", "cell", 0, "Submit it.", 1.0, 5, 5.0, auto={"too_long": False})
    with pytest.raises(ImportRejected) as rejected:
        validate_document(
            {
                "format": "tipbench.judging/1",
                "experiment": "x",
                "rubric": brief.ref.to_json(),
                "judge_id": "ana",
                "items": [{"candidate_id": "c1", "tip": "Submit it.", "scores": values}],
            },
            "x",
            {"c1": candidate},
            brief,
        )
    # the same words, each score named where it sits in the file (scores.<id>); a file item
    # with some scores left null is "partly filled" (fill all or none) rather than missing
    shown = [p.message.replace("scores.", "") for p in rejected.value.problems]
    expected = "partly filled: kindness still null" if "missing" in message else message
    assert any(expected in m for m in shown), shown
    if "unknown" not in message and "missing" not in message:
        with pytest.raises(JudgingError, match=re.escape(message)):
            parse_answer(json.dumps(values), candidate, brief)


def test_the_llm_judge_is_asked_in_the_rubrics_own_terms(brief) -> None:
    text = judge_instructions(brief)
    assert "from 1 to 7" in text and "1 to 5" not in text
    assert "clarity" in text and "kindness" in text and "too_long" in text
    for dim in brief.dimensions:
        assert all(f"{lv.score} = {lv.anchor}" in text for lv in dim.levels)
    schema = brief.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["clarity", "kindness", "too_long"]
    assert schema["properties"]["clarity"]["enum"] == [1, 2, 3, 4, 5, 6, 7]
    jsonschema.validate({"clarity": 7, "kindness": 6, "too_long": False}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"clarity": 4, "kindness": 4, "too_long": False, "tone": 3}, schema)
    candidate = Candidate("c1", "cell", 0, "tip", 1.0, 5, 5.0, auto={"too_long": True})
    answer = parse_answer('{"clarity": 6, "kindness": 7.0}', candidate, brief)
    assert answer.values == {"clarity": 6, "kindness": 7, "too_long": True}


def test_a_score_id_may_not_take_a_column_of_the_frames() -> None:
    for bad in ("composite", "judge_id", "rank", "format_auto", "clarity_mean"):
        text = BRIEF_TEXT.replace('id = "clarity"', f'id = "{bad}"').replace(
            "clarity = 3", f"{bad} = 3"
        )
        with pytest.raises(DataFileError, match="dimensions\\[0\\].id"):
            parse_rubric(text, BRIEF, "brief.toml")
    text = BRIEF_TEXT.replace('id = "clarity"', 'id = "Clarity-1"')
    with pytest.raises(DataFileError, match="lowercase letters, digits and underscores"):
        parse_rubric(text, BRIEF, "brief.toml")


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        ("clarity = 3", "clarity = nan", "composite.weights.clarity", "finite number"),
        ("clarity = 3", "clarity = inf", "composite.weights.clarity", "finite number"),
        ("kindness = 1", "kindness = 1e308", "composite.weights.kindness", "-1000 to 1000"),
        ("too_long = -3", "too_long = -1001", "composite.weights.too_long", "-1000 to 1000"),
        (
            "clarity = 3\nkindness = 1\ntoo_long = -3",
            "clarity = 0\nkindness = 0\ntoo_long = 0.0",
            "composite.weights",
            "every weight is 0",
        ),
        ("min = 1\nmax = 7", "min = -5000\nmax = 7", "scale.min", "from -1000 to 999"),
        ("min = 1\nmax = 7", "min = 1\nmax = 500", "scale.max", "from 2 to 101"),
    ],
)
def test_weights_and_scales_no_composite_can_use_are_refused_by_the_one_validator(
    old: str, new: str, where: str, problem: str
) -> None:
    """NaN, infinite, huge or all-zero weights and unbounded scales are refused where the text is
    parsed, naming the key: a file, an experiment's record or a snapshot alike (issue 17)."""
    assert old in BRIEF_TEXT
    with pytest.raises(DataFileError) as caught:
        parse_rubric(BRIEF_TEXT.replace(old, new), BRIEF, "brief.toml")
    message = str(caught.value)
    assert f"brief.toml: {where}: " in message and problem in message, message


# -- the frames, the statistics and the charts ---------------------------------------------------


def brief_frames(brief) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Two cells, three scenarios, one tip each, two judges; composites left for the rubric."""
    schemas = frame_schemas(brief)
    cells, candidates, judgments = [], [], []
    for model, base in (("model-a", 6), ("model-b", 3)):
        for s in range(3):
            cell = f"{model}-s{s}"
            cells.append(
                {
                    "cell_id": cell,
                    "model": model,
                    "prompt_version": "v1",
                    "scenario_id": f"s{s}",
                    "persona": "p",
                    "time_slot": "morning",
                }
            )
            cid = f"{cell}-0"
            candidates.append(
                {
                    "candidate_id": cid,
                    "cell_id": cell,
                    "sample_index": 0,
                    "text": "Submit your timesheets tonight.",
                    "latency_s": 1.0,
                    "eval_tokens": 10,
                    "tokens_per_s": 10.0,
                    "too_long_auto": s == 2,
                }
            )
            for judge, bias in (("ana", 0), ("bo", 1)):
                judgments.append(
                    {
                        "candidate_id": cid,
                        "judge_id": judge,
                        "judge_kind": "human",
                        "rubric_version": BRIEF,
                        "clarity": base + bias - (s == 1),
                        "kindness": 7 - base + s,
                        "too_long": s == 2,
                        "composite": None,
                        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
                    }
                )
    return (
        pl.DataFrame(cells, schema=schemas["cells"]),
        pl.DataFrame(candidates, schema=schemas["candidates"]),
        pl.DataFrame(judgments, schema=schemas["judgments"]),
    )


def test_the_statistics_work_on_the_rubrics_dimensions_and_weights(brief) -> None:
    cells, candidates, judgments = brief_frames(brief)
    scale = ScoreScale.from_rubric(brief)
    scores = stats.score_table(cells, candidates, judgments, scale=scale)
    assert {"clarity", "kindness", "too_long"} <= set(scores.columns)
    assert "relevance" not in scores.columns
    # the composite a judgment lacks is the rubric's weighted sum, never tip-v1's formula
    mean = judgments.with_columns(
        (3 * pl.col("clarity") + pl.col("kindness") - 3 * pl.col("too_long").cast(pl.Int64))
        .cast(pl.Float64)
        .alias("expected")
    )
    per_tip = mean.group_by("candidate_id").agg(pl.col("expected").mean())
    joined = scores.join(per_tip, on="candidate_id")
    assert joined["composite"].to_list() == joined["expected"].to_list()

    board = stats.leaderboard(scores, scale=scale, n_boot=200)
    assert [c for c in board.columns if c.endswith("_mean")] == [
        "composite_mean",
        "clarity_mean",
        "kindness_mean",
        "too_long_mean",
    ]
    assert board["composite_lo"].min() >= BRIEF_RANGE[0]
    assert board["composite_hi"].max() <= BRIEF_RANGE[1]
    assert board["clarity_hi"].max() <= 7 and board["clarity_lo"].min() >= 1
    agreement = stats.judge_agreement(judgments, scale=scale)
    assert agreement["dimension"].to_list() == ["clarity", "kindness"]
    tips = stats.judges.tip_scenarios(cells, candidates)
    panel = stats.judges.judge_panel(judgments, {}, scale=scale, scenarios=tips)
    assert sorted(panel["judge_id"].to_list()) == ["ana", "bo"]


def test_chart_titles_and_axes_are_the_rubrics(brief) -> None:
    cells, candidates, judgments = brief_frames(brief)
    scale = ScoreScale.from_rubric(brief)
    scores = stats.score_table(cells, candidates, judgments, scale=scale)
    board = stats.leaderboard(scores, scale=scale, n_boot=200)
    specs = {
        "heatmap": charts.heatmap(board, rubric=brief).to_dict(),
        "forest": charts.forest_plot(board, rubric=brief).to_dict(),
        "breakdown": charts.dimension_breakdown(board, rubric=brief).to_dict(),
    }
    text = json.dumps(specs, ensure_ascii=False)
    assert "2–17" not in text and "1–5" not in text
    assert "mean composite (1–28)" in json.dumps(specs["heatmap"], ensure_ascii=False)
    assert "Mean composite (1–28)" in json.dumps(specs["forest"], ensure_ascii=False)
    assert "Mean on the 1–7 scale" in json.dumps(specs["breakdown"], ensure_ascii=False)
    assert [1, 7] in _domains(specs["breakdown"])
    values = [v for d in specs["breakdown"]["datasets"].values() for v in d]
    assert {v["dimension"] for v in values} == {"Clarity", "Kindness"}


def _domains(spec: dict) -> list:
    """Every x scale domain in a layered chart's spec."""
    found = []
    for layer in spec.get("layer", []):
        x = layer.get("encoding", {}).get("x", {})
        if "scale" in x and "domain" in x["scale"]:
            found.append(x["scale"]["domain"])
    return found


def test_the_compare_analysis_report_and_tables_are_the_experiments_rubric(
    tmp_path: Path,
) -> None:
    """The compare phase reads brief-v1 from the experiment (here: as the loader hands it over),
    with no file of that name on this machine: no lookup by name, no tip-v1 column or range."""
    recorded = parse_rubric(BRIEF_TEXT, BRIEF, "the experiment's record")
    cells, candidates, judgments = brief_frames(recorded)
    data = ExperimentData(cells, candidates, judgments, {"experiment": "brief"}, rubric=recorded)
    assert experiment_rubric(data) is recorded
    analysis = analyse(data, Options(n_boot=200, n_perm=200))
    assert analysis.scale.composite == BRIEF_RANGE and analysis.scale.dimension == (1.0, 7.0)
    assert "Composite on the 1–28 scale of rubric brief-v1; dimensions on 1–7." in (
        analysis.scale_note
    )
    assert "on the 1–28 scale" in analysis.highest
    assert analysis.agreement["dimension"].to_list() == ["clarity", "kindness"]
    page = report.render(analysis)
    for header in ("Clarity", "Kindness", "Too long"):
        assert f">{header}</th>" in page
    assert "Relevance" not in page and "2–17" not in page and "1–5" not in page
    board_csv, _ = write_tables(
        tmp_path, analysis.leaderboard, analysis.comparisons, dimensions=recorded.dimension_ids
    )
    header = board_csv.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert [c for c in header[:10] if c.endswith("_mean")] == [
        "composite_mean",
        "clarity_mean",
        "kindness_mean",
    ]
    assert header[9] == "interval_note" and "relevance_mean" not in header
    # judgments under another rubric than the experiment's are refused, naming both
    mixed = replace(data, judgments=judgments.with_columns(rubric_version=pl.lit("tip-v1")))
    with pytest.raises(TipbenchError, match="experiment is scored on brief-v1"):
        analyse(mixed)
