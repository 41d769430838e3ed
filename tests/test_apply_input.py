"""``--apply`` meets files as editors and accidents make them: a BOM, huge, deeply nested, a folder.

Each is refused by name with exit status 2 and no traceback, or (the BOM) accepted, and a refused
file stores nothing.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED
from tipbench_lib.judge.cli import main
from tipbench_lib.judge.exchange import MAX_APPLY_BYTES

from .test_judge import collected_experiment
from .test_judge_io import _export, _fill, _stored


@pytest.fixture
def experiment(mlflow_client, experiment_name, tipbench_home):
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    return experiment_name


def _apply(client, experiment: str, path: Path, capsys) -> tuple[int, str]:
    status = main(["--experiment", experiment, "--apply", str(path)], client=client)
    return status, capsys.readouterr().err


def test_a_utf8_bom_from_a_windows_editor_is_accepted(
    mlflow_client, experiment, tipbench_home, tmp_path, capsys
):
    filled = _fill(_export(mlflow_client, experiment, tmp_path / "out.json"))
    path = tmp_path / "notepad.json"
    path.write_bytes("\ufeff".encode() + json.dumps(filled, ensure_ascii=False).encode())
    status, err = _apply(mlflow_client, experiment, path, capsys)
    assert status == EXIT_OK, err
    assert len(_stored(mlflow_client, experiment, tipbench_home)) > len(filled["items"])


@pytest.mark.parametrize("depth", [100_000, 200])
def test_deep_nesting_is_a_named_input_error(
    mlflow_client, experiment, tipbench_home, tmp_path, capsys, depth
):
    """100,000 levels is beyond what Python's JSON reader can nest (it raised RecursionError);
    200 levels parses, but no export nests like that."""
    path = tmp_path / "deep.json"
    path.write_text('{"format": "tipbench.judging/1", "items": ' + "[" * depth + "]" * depth + "}")
    status, err = _apply(mlflow_client, experiment, path, capsys)
    assert status == EXIT_REFUSED
    assert "nests more than 32 levels" in err and "nothing was stored" in err
    assert "Traceback" not in err and "RecursionError" not in err
    assert _stored(mlflow_client, experiment, tipbench_home) == []


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    mlflow_client, experiment, tipbench_home, tmp_path, capsys
):
    path = tmp_path / "huge.json"
    with path.open("wb") as file:  # sparse: 100 MB on paper, nothing on disk
        file.truncate(100 * 2**20)
    tracemalloc.start()
    try:
        status, err = _apply(mlflow_client, experiment, path, capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == EXIT_REFUSED
    assert f"over the {MAX_APPLY_BYTES // 2**20} MB --apply reads" in err
    assert peak < 4 * 2**20, f"{peak:,} bytes allocated: the file was read"
    assert _stored(mlflow_client, experiment, tipbench_home) == []


def test_unreadable_paths_are_named_without_a_traceback(
    mlflow_client, experiment, tmp_path, capsys
):
    status, err = _apply(mlflow_client, experiment, tmp_path, capsys)  # a folder
    assert status == EXIT_REFUSED and "cannot be read" in err and "Traceback" not in err

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"note": "café"}'.encode("latin-1"))
    status, err = _apply(mlflow_client, experiment, latin1, capsys)
    assert status == EXIT_REFUSED and "not UTF-8 text" in err


def test_a_huge_value_is_shown_cut(mlflow_client, experiment, tmp_path, capsys):
    filled = _fill(_export(mlflow_client, experiment, tmp_path / "out.json"))
    filled["items"][0]["scores"]["tone"] = "x" * 100_000
    path = tmp_path / "long.json"
    path.write_text(json.dumps(filled))
    status, err = _apply(mlflow_client, experiment, path, capsys)
    assert status == EXIT_REFUSED
    assert "tone must be an integer from 1 to 5 (rubric tip-v1), got 'xxx" in err
    assert len(err) < 2_000


def test_a_judge_id_over_the_limit_is_refused_and_nothing_stored(
    mlflow_client, experiment, tipbench_home, tmp_path, capsys
):
    filled = _fill(_export(mlflow_client, experiment, tmp_path / "out.json"))
    filled["judge_id"] = "j" * 65
    path = tmp_path / "long-judge.json"
    path.write_text(json.dumps(filled), encoding="utf-8")
    before = _stored(mlflow_client, experiment, tipbench_home)
    status, err = _apply(mlflow_client, experiment, path, capsys)
    assert status == EXIT_REFUSED
    assert "judge id" in err and "64" in err and "Traceback" not in err
    assert _stored(mlflow_client, experiment, tipbench_home) == before
