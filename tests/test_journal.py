"""The journal keeps every record through crashes: torn lines, concurrent writers, reopening."""

from __future__ import annotations

import pytest

from tipbench_lib.errors import TipbenchError
from tipbench_lib.journal import Journal, exclusive_lock, experiment_dir


def test_records_round_trip_in_order(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    for i in range(5):
        journal.append({"i": i, "text": "ünïcode <script>"})
    assert [r["i"] for r in journal.records()] == [0, 1, 2, 3, 4]
    assert list(journal.records())[0]["text"] == "ünïcode <script>"


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_fresh_line(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.append({"i": 0})
    with open(path, "ab") as fh:  # what a kill -9 in the middle of a write leaves behind
        fh.write(b'{"i": 1, "te')
    assert [r["i"] for r in journal.records()] == [0]
    journal.append({"i": 2})
    assert [r["i"] for r in journal.records()] == [0, 2]


def test_damage_in_the_middle_is_reported_with_the_line_number(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"i": 0}\nnot json\n{"i": 2}\n', encoding="utf-8")
    with pytest.raises(TipbenchError, match="line 2"):
        list(Journal(path).records())


def test_a_second_holder_of_the_lock_is_refused_with_a_message(tmp_path):
    lock = tmp_path / "x.lock"
    with (
        exclusive_lock(lock, "collecting into 'e'"),
        pytest.raises(TipbenchError, match="another process is already collecting"),
        exclusive_lock(lock, "collecting into 'e'"),
    ):
        pass
    with exclusive_lock(lock, "collecting into 'e'"):  # released afterwards
        pass


def test_experiment_names_become_safe_folder_names(tmp_path):
    assert experiment_dir("a/b c", tmp_path).name == "a_b_c"
    assert experiment_dir("../..", tmp_path).parent == tmp_path / "journal"
