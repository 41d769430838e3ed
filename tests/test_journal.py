"""The journal keeps every record through crashes: torn lines, concurrent writers, reopening."""

from __future__ import annotations

import os
import stat

import pytest

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.journal import (
    Journal,
    JournalWarning,
    create_journal,
    exclusive_lock,
    experiment_dir,
    name_key,
    own_records,
)


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


def test_a_complete_last_line_without_its_newline_is_kept_by_the_next_append(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1}')  # a hand edit or a copy that dropped the newline
    journal = Journal(path)
    assert [r["i"] for r in journal.records()] == [0, 1], "the reader counts the last record"
    journal.append({"i": 2})
    assert [r["i"] for r in journal.records()] == [0, 1, 2], "so the writer must keep it"
    assert path.read_bytes() == b'{"i": 0}\n{"i": 1}\n{"i":2}\n'


def test_a_torn_only_line_is_cut_and_a_lone_complete_one_is_kept(tmp_path):
    torn, whole = tmp_path / "torn.jsonl", tmp_path / "whole.jsonl"
    torn.write_bytes(b'{"i": 0, "te')
    whole.write_bytes(b'{"i": 0}')
    for path in (torn, whole):
        Journal(path).append({"i": 9})
    assert [r["i"] for r in Journal(torn).records()] == [9]
    assert [r["i"] for r in Journal(whole).records()] == [0, 9]


def test_a_json_value_that_is_not_a_record_is_damage_not_a_record(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"i": 0}\n[1, 2]\n{"i": 2}\n', encoding="utf-8")
    with pytest.raises(TipbenchError, match="line 2"):
        list(Journal(path).records())


def _fsynced_paths(monkeypatch) -> list[str]:
    """Record the path behind every fsynced descriptor (Linux names them in /proc/self/fd)."""
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def test_creating_a_journal_file_fsyncs_the_folders_that_name_it(tmp_path, monkeypatch):
    seen = _fsynced_paths(monkeypatch)
    path = tmp_path / "journal" / "exp" / "judgments" / "ana.jsonl"
    Journal(path).append({"i": 0})
    assert str(path) in seen
    for folder in (path.parent, path.parent.parent, tmp_path / "journal", tmp_path):
        assert str(folder) in seen, f"{folder} holds a new entry but was not fsynced"
    seen.clear()
    Journal(path).append({"i": 1})
    assert seen == [str(path)], "a plain append costs one fsync, as before"


def test_names_that_shared_a_folder_get_their_own_and_stay_readable(tmp_path):
    names = ["a b", "a_b", "a/b", "実験", "テスト", "Lab", "lab", "../..", "experiment"]
    folders = [experiment_dir(name, tmp_path) for name in names]
    assert len({f.name.lower() for f in folders}) == len(names), "even on case-blind disks"
    assert all(f.parent == tmp_path / "journal" for f in folders)
    assert folders[0].name.startswith("a_b-") and folders[3].name.startswith("実験-")
    assert experiment_dir("a b", tmp_path) == folders[0], "the same name finds its folder again"


def test_name_keys_fit_a_file_name_whatever_the_name(tmp_path):
    for name in ("x" * 300, "実" * 300, "/" * 50, " "):
        key = name_key(name, "experiment")
        assert len(key.encode("utf-8")) <= 255 and "/" not in key and key.strip() == key


def test_a_journal_is_created_whole_or_not_at_all(tmp_path):
    path = tmp_path / "new" / "collect.jsonl"
    assert create_journal(path, [{"i": 0}, {"i": 1}])
    assert not create_journal(path, [{"i": 9}]), "an existing journal is never replaced"
    assert [r["i"] for r in Journal(path).records()] == [0, 1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["collect.jsonl"], "no spare left"


def test_records_of_another_owner_are_skipped_with_a_warning(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    for owner in ("a b", "a_b", "a b"):
        journal.append({"experiment": owner})
    journal.append({"no_owner_field": True})
    with pytest.warns(JournalWarning, match="1 of 'a_b'"):
        kept = list(own_records(journal, "experiment", "a b"))
    assert [r.get("experiment") for r in kept] == ["a b", "a b", None]


# -- who can read the journals (issue 17, finding 8) ------------------------------------------


def modes_under(root):
    """Every folder and file below (and including) ``root``, with its permission bits."""
    found = {root: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[path] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture
def permissive_umask():
    """A umask that lets everyone read and write what is created (a shared machine's worst)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_journals_are_private_whatever_the_umask(tmp_path, umask):
    """Folders 0700 and journal files 0600 as created, even under a umask that would give more
    (or less: 0277 would leave the owner unable to write)."""
    home = tmp_path / "home"
    old = os.umask(umask)
    try:
        journal = Journal(experiment_dir("exp", home) / "judgments" / "ana.jsonl")
        journal.append({"i": 0})
        journal.append({"i": 1})
        create_journal(experiment_dir("exp", home) / "adopted.jsonl", [{"i": 2}])
        with exclusive_lock(experiment_dir("exp", home) / "collect.lock", "testing"):
            pass
    finally:
        os.umask(old)
    modes = modes_under(home)
    assert {p: m for p, m in modes.items() if p.is_dir() and m != 0o700} == {}
    assert {p: m for p, m in modes.items() if p.is_file() and m != 0o600} == {}
    assert [r["i"] for r in journal.records()] == [0, 1]


def test_a_journal_others_could_read_is_tightened_at_the_next_append(tmp_path):
    path = tmp_path / "ana.jsonl"
    path.write_text('{"i": 0}\n', encoding="utf-8")
    path.chmod(0o644)
    Journal(path).append({"i": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_with_a_remote_mlflow_the_home_and_journals_are_private(
    mlflow_server, tmp_path, monkeypatch, permissive_umask
):
    """With MLFLOW_TRACKING_URI set no embedded server makes the home private: the journals
    must, or other local users read the judges' scores (they were created 0755 and 0644)."""
    from tests.ollama_standin import FakeModel, OllamaStandIn
    from tests.test_judge import tip
    from tipbench_lib.collect.cli import main as collect_main
    from tipbench_lib.judge.session import JudgeSession
    from tipbench_lib.tracking.client import MlflowClient

    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    model = FakeModel("tiny-a", 1_000_000_000, texts=("Submit the form tonight.",))
    with OllamaStandIn([model], load_s=0.0, gen_s=0.0) as standin:
        monkeypatch.setenv("OLLAMA_HOST", standin.url)
        grid = ["--models", "tiny-a", "--prompts", "v1", "--scenarios", "1", "--n-tips", "1"]
        assert collect_main(["--experiment", "private", "--backend", "ollama", *grid]) == 0
    with MlflowClient(mlflow_server) as client:
        session = JudgeSession(client, "private", "ana")
        session.save(session.order[0], tip(4, 4, 4, True, False))
    modes = modes_under(home)
    assert modes[home] == 0o700
    assert {p: m for p, m in modes.items() if p.is_dir() and m != 0o700} == {}
    assert {p: m for p, m in modes.items() if p.is_file() and m != 0o600} == {}
    assert any(p.name.endswith(".jsonl") and "judgments" in p.parts for p in modes)
