"""Snapshots written by other tools: lossless types load, lossy ones are named, composites checked.

Every foreign type here is produced for real, by pandas or pyarrow rewriting one column of a
snapshot that tipbench wrote, because the types a reader meets are the ones those writers choose
(pandas' nullable Int64, a fixed-offset zone parsed from ISO strings, categoricals, ...). Large
strings need no case of their own: tipbench's own snapshots (polars) already write them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tipbench_lib.compare.analysis import Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.job import Selection, apply_selection
from tipbench_lib.compare.load import (
    ExperimentData,
    load_experiment,
    read_snapshot,
    recompute_composites,
    write_snapshot,
)
from tipbench_lib.compare.report import render
from tipbench_lib.core.errors import DataFileError
from tipbench_lib.core.rubric import shipped_rubric
from tipbench_lib.core.schema import frame_schemas
from tipbench_lib.tracking.mapping import read_cell_artifact
from tipbench_lib.validation import synthetic

from .test_judge import collected_experiment

FRAMES = frame_schemas(shipped_rubric())
Change = Callable[[pd.DataFrame], None]


@pytest.fixture(scope="module")
def original() -> ExperimentData:
    exp = synthetic.generate(2, 2, 3, 2, n_judges=2, seed=5)
    return ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "snap-test"})


@pytest.fixture
def snap(original: ExperimentData, tmp_path: Path) -> Path:
    return write_snapshot(original, tmp_path / "snap")


def rewrite(directory: Path, name: str, change: Change) -> Path:
    """Rewrite one parquet file of a snapshot through pandas, as another tool would."""
    path = directory / f"{name}.parquet"
    frame = pd.read_parquet(path)
    change(frame)
    frame.to_parquet(path, index=False)
    return path


def set_column(column: str, make: Callable[[pd.Series], object]) -> Change:
    def change(frame: pd.DataFrame) -> None:
        frame[column] = make(frame[column])

    return change


def check_schema(data: ExperimentData) -> None:
    for name, frame in data.frames().items():
        for column, dtype in FRAMES[name].items():
            assert frame.schema[column] == dtype, (name, column, frame.schema[column])


# --- the issue's case --------------------------------------------------------------------------


def test_int64_composite_from_pandas_loads(snap: Path, original: ExperimentData) -> None:
    rewrite(snap, "judgments", set_column("composite", lambda s: s.astype("Int64")))
    assert pl.read_parquet(snap / "judgments.parquet").schema["composite"] == pl.Int64
    data = read_snapshot(snap)
    check_schema(data)
    assert data.judgments["composite"].to_list() == original.judgments["composite"].to_list()
    assert data.warnings == []


# --- every lossless type -----------------------------------------------------------------------


def _paris(s: pd.Series) -> pd.Series:
    return s.dt.tz_convert("Europe/Paris")


def _fixed_offset(s: pd.Series) -> pd.Series:
    """What pandas makes of ISO strings with an offset: a fixed '+02:00' zone."""
    return pd.to_datetime(s.dt.tz_convert("Etc/GMT-2").dt.strftime("%Y-%m-%dT%H:%M:%S+02:00"))


LOSSLESS: dict[str, tuple[str, str, Callable[[pd.Series], object]]] = {
    "composite Int32": ("judgments", "composite", lambda s: s.astype("int32")),
    "composite UInt8": ("judgments", "composite", lambda s: s.astype("uint8")),
    "composite Float32": ("judgments", "composite", lambda s: s.astype("float32")),
    "score Int8": ("judgments", "relevance", lambda s: s.astype("int8")),
    "score UInt16": ("judgments", "tone", lambda s: s.astype("uint16")),
    "score whole floats": ("judgments", "actionability", lambda s: s.astype("float64")),
    "flag 0/1 integers": ("judgments", "format_ok", lambda s: s.astype("int8")),
    "judge id categorical": ("judgments", "judge_id", lambda s: s.astype("category")),
    "rubric small string": (
        "judgments",
        "rubric_version",
        lambda s: s.astype(pd.ArrowDtype(pa.string())),
    ),
    "sample index Int32": ("candidates", "sample_index", lambda s: s.astype("Int32")),
    "tokens UInt32": ("candidates", "eval_tokens", lambda s: s.astype("uint32")),
    "latency Float32": ("candidates", "latency_s", lambda s: s.astype("float32")),
    "speed integers": ("candidates", "tokens_per_s", lambda s: s.round().astype("int16")),
    "model categorical": ("cells", "model", lambda s: s.astype("category")),
    "scenario small string": (
        "cells",
        "scenario_id",
        lambda s: s.astype(pd.ArrowDtype(pa.string())),
    ),
    "time in Paris": ("judgments", "created_at", _paris),
    "time fixed offset": ("judgments", "created_at", _fixed_offset),
    "time nanoseconds": ("judgments", "created_at", lambda s: s.astype("datetime64[ns, UTC]")),
    "time naive (read as UTC)": ("judgments", "created_at", lambda s: s.dt.tz_localize(None)),
    "time ISO strings": (
        "judgments",
        "created_at",
        lambda s: s.dt.tz_convert("America/New_York").map(lambda t: t.isoformat()),
    ),
    "time ISO with Z": (
        "judgments",
        "created_at",
        lambda s: s.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ),
}


@pytest.mark.parametrize("case", LOSSLESS)
def test_lossless_types_load_with_the_same_values(
    case: str, snap: Path, original: ExperimentData
) -> None:
    name, column, make = LOSSLESS[case]
    ours = pq.read_schema(snap / f"{name}.parquet").field(column).type
    path = rewrite(snap, name, set_column(column, make))
    theirs = pq.read_schema(path).field(column).type
    assert theirs != ours, "test setup: the rewrite must change the type"
    data = read_snapshot(snap)
    check_schema(data)
    loaded = data.frames()[name][column]
    expected = original.frames()[name][column]
    if expected.dtype == pl.Float64:
        # the file holds Float32 or rounded values: compare with what the file holds
        file_values = pl.from_pandas(pd.read_parquet(path)[column]).cast(pl.Float64)
        assert loaded.to_list() == file_values.to_list()
    else:
        assert loaded.to_list() == expected.to_list()


def test_partly_missing_integer_scores_written_as_floats_load(
    snap: Path, original: ExperimentData
) -> None:
    """pandas turns an integer column with a gap into floats; whole floats are still scores."""

    def gap(frame: pd.DataFrame) -> None:
        frame["relevance"] = frame["relevance"].astype("float64")
        frame.loc[0, "relevance"] = float("nan")

    rewrite(snap, "judgments", gap)
    data = read_snapshot(snap)
    assert data.judgments.schema["relevance"] == pl.Int64
    assert data.judgments["relevance"][0] is None
    loaded, expected = data.judgments["relevance"], original.judgments["relevance"]
    assert loaded[1:].to_list() == expected[1:].to_list()


def test_times_are_the_same_instants_in_utc(snap: Path, original: ExperimentData) -> None:
    rewrite(snap, "judgments", set_column("created_at", _fixed_offset))
    data = read_snapshot(snap)
    assert data.judgments["created_at"][0] == datetime(2025, 1, 1, tzinfo=UTC)
    assert data.judgments["created_at"].dtype.time_zone == "UTC"


# --- lossy types are refused, naming file, column, type found and type expected ----------------


LOSSY: dict[str, tuple[str, str, Callable[[pd.Series], object], tuple[str, ...]]] = {
    "fractional score": (
        "judgments",
        "relevance",
        lambda s: s.astype("float64") + 0.5,
        ("Float64", "Int64", "not a whole number"),
    ),
    "score above Int64": (
        "candidates",
        "eval_tokens",
        lambda s: pd.Series([2**63 + 1] * len(s), dtype="uint64"),
        ("UInt64", "Int64", "do not all fit"),
    ),
    "number for text": ("cells", "scenario_id", lambda s: range(len(s)), ("Int64", "String")),
    "text for a number": (
        "judgments",
        "composite",
        lambda s: s.astype(str),
        ("String", "Float64"),
    ),
    "flag that is not 0/1": (
        "judgments",
        "overlong",
        lambda s: s.astype("int64") + 2,
        ("Int64", "Boolean", "neither 0 nor 1"),
    ),
    "date without time": (
        "judgments",
        "created_at",
        lambda s: [date(2025, 1, 1)] * len(s),
        ("Date", "Datetime"),
    ),
    "time that is not ISO": (
        "judgments",
        "created_at",
        lambda s: ["yesterday"] * len(s),
        ("String", "Datetime", "'yesterday'", "row 0"),
    ),
    "float for a boolean": (
        "candidates",
        "format_ok_auto",
        lambda s: s.astype("float64"),
        ("Float64", "Boolean"),
    ),
}


@pytest.mark.parametrize("case", LOSSY)
def test_lossy_types_are_refused_by_name(case: str, snap: Path) -> None:
    name, column, make, parts = LOSSY[case]
    path = rewrite(snap, name, set_column(column, make))
    before = path.read_bytes()
    with pytest.raises(DataFileError) as caught:
        read_snapshot(snap)
    message = str(caught.value)
    for part in (str(path), repr(column), "expected", *parts):
        assert part in message, f"{part!r} not in {message!r}"
    assert path.read_bytes() == before, "reading never changes the snapshot"


def test_missing_column_is_named(snap: Path) -> None:
    path = rewrite(snap, "candidates", lambda f: f.pop("latency_s"))
    with pytest.raises(DataFileError, match=r"'latency_s'.*missing \(expected type Float64\)"):
        read_snapshot(snap)
    assert str(path) in str(pytest.raises(DataFileError, read_snapshot, snap).value)


def test_damaged_parquet_is_named(snap: Path) -> None:
    (snap / "cells.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataFileError, match="cells.parquet: file: not a readable parquet file"):
        read_snapshot(snap)


def test_round_trip_keeps_every_frame(snap: Path, original: ExperimentData) -> None:
    data = read_snapshot(snap)
    for name, frame in original.frames().items():
        assert data.frames()[name].equals(frame), name


# --- the composite is the rubric's -------------------------------------------------------------


def test_a_disagreeing_composite_is_named_and_recomputed(
    snap: Path, original: ExperimentData
) -> None:
    def tamper(frame: pd.DataFrame) -> None:
        frame.loc[3, "composite"] = frame.loc[3, "composite"] + 4

    rewrite(snap, "judgments", tamper)
    row = original.judgments.row(3, named=True)
    data = read_snapshot(snap)
    assert data.judgments["composite"].to_list() == original.judgments["composite"].to_list()
    [warning] = data.warnings
    recomputed = row["composite"]
    for part in (
        str(snap / "judgments.parquet"),
        f"candidate {row['candidate_id']} judge {row['judge_id']}",
        f"stored {recomputed + 4:g} vs recomputed {recomputed:g}",
        "1 of 48 judgment(s)",
        "the recomputed value is used",
        "tip-v1",
    ):
        assert part in warning, f"{part!r} not in {warning!r}"


def test_many_mismatches_name_the_first_ten_and_count_the_rest(snap: Path) -> None:
    def reweigh(frame: pd.DataFrame) -> None:
        frame.loc[:14, "composite"] = frame.loc[:14, "composite"] - 1

    rewrite(snap, "judgments", reweigh)
    [warning] = read_snapshot(snap).warnings
    assert "15 of 48" in warning and "; and 5 more." in warning
    assert warning.count(" vs recomputed ") == 10


def test_a_missing_composite_is_computed_from_the_rubric(
    snap: Path, original: ExperimentData
) -> None:
    rewrite(snap, "judgments", set_column("composite", lambda s: pd.Series([None] * len(s))))
    data = read_snapshot(snap)
    assert data.judgments["composite"].to_list() == original.judgments["composite"].to_list()
    assert data.warnings == []


def test_a_score_outside_the_scale_is_refused(snap: Path, original: ExperimentData) -> None:
    def outside(frame: pd.DataFrame) -> None:
        frame.loc[2, "tone"] = 9

    rewrite(snap, "judgments", outside)
    row = original.judgments.row(2, named=True)
    with pytest.raises(DataFileError) as caught:
        read_snapshot(snap)
    message = str(caught.value)
    assert f"candidate {row['candidate_id']!r} judged by {row['judge_id']!r} has 9" in message
    assert "outside 1-5 of rubric tip-v1" in message and "'tone'" in message


def test_judgments_under_another_rubric_are_left_out_and_named(
    snap: Path, original: ExperimentData
) -> None:
    def other_rubric(frame: pd.DataFrame) -> None:
        frame.loc[:9, "rubric_version"] = "tip-v99"
        frame.loc[:9, "composite"] = frame.loc[:9, "composite"] + 100

    rewrite(snap, "judgments", other_rubric)
    data = read_snapshot(snap)
    assert data.judgments["composite"].to_list() == original.judgments["composite"].to_list()[10:]
    [warning] = data.warnings
    for part in ("10 judgment(s) name rubric tip-v99", "not the experiment's tip-v1", "left out"):
        assert part in warning, warning


def test_failed_judgments_keep_their_empty_scores(original: ExperimentData) -> None:
    failed = original.judgments.head(2).with_columns(
        pl.lit(None, pl.Int64).alias("relevance"), pl.lit(None, pl.Float64).alias("composite")
    )
    judgments, warnings = recompute_composites(failed, "test", shipped_rubric())
    assert judgments["composite"].to_list() == [None, None] and warnings == []


def test_warnings_survive_a_selection_and_reach_the_report(snap: Path) -> None:
    def tamper(frame: pd.DataFrame) -> None:
        frame.loc[0, "composite"] = 99.0

    rewrite(snap, "judgments", tamper)
    data = read_snapshot(snap)
    chosen = apply_selection(data, Selection(models=("model-00",)))
    assert chosen.warnings == data.warnings and len(data.warnings) == 1
    analysis = analyse(chosen, Options(n_boot=50, n_perm=100))
    assert analysis.warnings == tuple(data.warnings)
    header = render(analysis).split("<main>", 1)[0]
    assert "stored 99 vs recomputed" in header, "the warning is shown above the findings"


def test_mlflow_judgments_get_the_same_check(mlflow_client, experiment_name) -> None:
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    [run, *_] = mlflow_client.search_runs([exp.experiment_id])
    candidates = read_cell_artifact(mlflow_client, run).candidates
    record = {
        "candidate_id": candidates[0].candidate_id,
        "judge_id": "other-tool",
        "judge_kind": "import",
        "rubric_version": "tip-v1",
        "relevance": 4,
        "actionability": 4,
        "tone": 4,
        "format_ok": True,
        "overlong": False,
        "composite": 15.0,
        "created_at": "2025-01-01T10:00:00+00:00",
        "status": "ok",
    }
    mlflow_client.log_artifact(run.run_id, "judgments/other-tool.json", json.dumps([record]))
    data = load_experiment(mlflow_client, experiment_name)
    assert data.judgments["composite"].to_list() == [14.0]
    [warning] = data.warnings
    assert f"MLflow experiment {experiment_name!r}" in warning
    assert f"candidate {record['candidate_id']} judge other-tool: stored 15 vs recomputed 14" in (
        warning
    )


# --- a broken provenance.json is named (issue 9, item 7) ---------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"experiment": "x",\n  "judges": }\n', "line 2 column 13: invalid JSON"),
        (b'["a", "list"]', "holds a JSON list, expected an object"),
        (b'{"experiment": "caf\xe9"}', "is not UTF-8 text"),
        (b'{"warnings": "one string"}', "'warnings': expected a list of strings"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_a_broken_provenance_is_named(snap: Path, content: bytes, problem: str) -> None:
    path = snap / "provenance.json"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as caught:
        read_snapshot(snap)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message, message
    assert "delete it: provenance.json is optional" in message
    assert path.read_bytes() == content


@pytest.mark.parametrize("key", ["judges", "models", "prompts"])
@pytest.mark.parametrize(
    "value", ["a string", 5, [1, 2], {"x": 1}, {"x": [1]}, [{"judge_id": "a"}, 3]]
)
def test_a_provenance_entry_of_the_wrong_shape_is_named_not_a_traceback(
    snap: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: object
) -> None:
    """``judges``, ``models`` and ``prompts`` of another shape than tipbench's (an object by name,
    or a list of objects) are refused on read, naming the key (issue 17, finding 8)."""
    path = snap / "provenance.json"
    content = json.dumps({"experiment": "x", key: value})
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    assert compare_main(["--data", str(snap), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tipbench: refused: {path}: key {key!r}"), err
    assert "delete it: provenance.json is optional" in err and "Traceback" not in err
    assert path.read_text(encoding="utf-8") == content and not out.exists()


def test_every_provenance_tipbench_writes_or_wrote_is_read(snap: Path) -> None:
    """The accepted shapes: tipbench's objects by name, the lists of older files, nulls."""
    shapes = {
        "models": [{"model": "m", "model_digest": "d"}],
        "prompts": [{"version": "v1", "hash": "h"}],
        "judges": [{"judge_id": "ana", "kind": "human"}],
    }
    path = snap / "provenance.json"
    for prov in (shapes, dict.fromkeys(shapes), {"models": {"m": None}, "prompts": {"v1": None}}):
        path.write_text(json.dumps(prov), encoding="utf-8")
        data = read_snapshot(path.parent)
        render(analyse(data, Options(n_boot=50)))


def test_a_provenance_with_a_bom_is_read(snap: Path) -> None:
    path = snap / "provenance.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"experiment": "from-windows"}).encode())
    assert read_snapshot(snap).provenance["experiment"] == "from-windows"


def test_compare_script_refuses_a_broken_provenance_without_traceback(
    snap: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (snap / "provenance.json").write_text("{not json", encoding="utf-8")
    out = tmp_path / "out"
    assert compare_main(["--data", str(snap), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tipbench: refused: ") and "Traceback" not in err
    assert str(snap / "provenance.json") in err and "invalid JSON" in err
    assert not out.exists(), "nothing is written when the input is refused"
