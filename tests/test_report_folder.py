"""The compare app's report folder box: a folder under the output root, nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipbench_lib.compare.report_folder import ReportFolderError, output_root, report_folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    root.mkdir()
    return root.resolve()


def test_folders_under_the_root_are_accepted(root: Path) -> None:
    assert report_folder("compare", root) == root / "compare"
    assert report_folder(" runs/nov ", root) == root / "runs/nov"
    assert report_folder(str(root / "abs"), root) == root / "abs"
    (root / "inside").mkdir()
    (root / "link").symlink_to(root / "inside")
    assert report_folder("link", root) == root / "inside"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("../elsewhere", "'..' is not allowed"),
        ("compare/../../x", "'..' is not allowed"),
        ("/etc/cron.d", "outside the output folder"),
        ("~/.ssh", "outside the output folder"),
        ("", "name a report folder"),
    ],
)
def test_paths_out_of_the_root_are_refused(root: Path, typed: str, expected: str) -> None:
    with pytest.raises(ReportFolderError, match=expected):
        report_folder(typed, root)


def test_symlinks_out_of_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    with pytest.raises(ReportFolderError, match="outside the output folder"):
        report_folder("escape", root)
    with pytest.raises(ReportFolderError, match="outside the output folder"):
        report_folder("escape/deeper", root)

    (root / "compare").mkdir()
    (root / "compare" / "report.html").symlink_to(outside / "victim.txt")
    with pytest.raises(ReportFolderError, match="is a symlink to"):
        report_folder("compare", root)


def test_the_root_is_out_in_the_working_directory_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert output_root() == (tmp_path / "out").resolve()
    assert output_root(str(tmp_path / "reports")) == (tmp_path / "reports").resolve()
