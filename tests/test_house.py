"""The house's rules (issue 19): statistics below the phases, validation code apart from the
product, one builder per number."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tipbench_lib import stats
from tipbench_lib.compare.cli import compare_parser
from tipbench_lib.core.paths import SHIPPED_DATA
from tipbench_lib.validation import synthetic

LIB = Path(__file__).resolve().parents[1] / "tipbench_lib"
PHASES = ("collect", "judge", "compare")
PRODUCT = ("collect", "judge", "compare", "stats", "core", "tracking", "backends")


def imported_packages(path: Path) -> set[str]:
    """The tipbench_lib subpackages a module imports, anywhere in it (late imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tipbench_lib" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] == "tipbench_lib" and isinstance(node, ast.ImportFrom):
                found.update(alias.name for alias in node.names)
    return found


def test_statistics_import_no_phase() -> None:
    """``stats`` sits below the phases: the frames' contract it checks lives in core.schema."""
    reaching_up = {
        str(path.relative_to(LIB)): sorted(imported_packages(path) & set(PHASES))
        for path in (LIB / "stats").glob("*.py")
    }
    assert not {k: v for k, v in reaching_up.items() if v}


def test_the_product_never_imports_validation_code() -> None:
    importing = [
        str(path.relative_to(LIB))
        for package in PRODUCT
        for path in (LIB / package).rglob("*.py")
        if "validation" in imported_packages(path)
    ]
    top = [p.name for p in LIB.glob("*.py") if "validation" in imported_packages(p)]
    assert not importing and not top, importing + top


def test_length_scores_are_the_score_tables_composites() -> None:
    """One builder per number: the per-judge rows the length fit reads are the rows
    :func:`stats.judge_scores` builds, with the composite the rubric gives a row that lacks one
    (a frame from another tool), not fewer rows."""
    exp = synthetic.generate(2, 1, 3, 2, n_judges=2, seed=5)
    bare = exp.judgments.with_columns(pl.lit(None, pl.Float64).alias("composite"))
    lengths = stats.judgment_scores(exp.cells, exp.candidates, bare)
    pairs = stats.judge_scores(exp.cells, exp.candidates, bare)
    joined = lengths.join(pairs, on=["candidate_id", "judge_id"], suffix="_scores")
    assert lengths.height == pairs.height == exp.judgments.height
    assert (joined["composite"] == joined["composite_scores"]).all()
    expected = exp.judgments.join(lengths, on=["candidate_id", "judge_id"], suffix="_length")
    assert (expected["composite"] == expected["composite_length"]).all()


def test_a_researcher_finds_the_data_at_the_top() -> None:
    """``data/`` at the top of the repository is the package's data, not a copy that can drift:
    git keeps it as a link (mode 120000), so ``pip install .`` ships the package's one copy."""
    top = LIB.parent / "data"
    assert top.is_symlink() and top.resolve() == SHIPPED_DATA.resolve()
    assert (top / "rubric" / "tip-v1.toml").is_file() and (top / "sample").is_dir()
    staged = subprocess.run(
        ["git", "ls-files", "-s", "data"], cwd=LIB.parent, capture_output=True, text=True
    ).stdout
    assert staged.startswith("120000 "), staged


def test_compare_has_no_option_that_does_nothing() -> None:
    """``--n-boot`` set resamples of a bootstrap the command never runs (its intervals are
    Student t): it is gone, and argparse names it when passed."""
    parser = compare_parser("tipbench compare")
    assert "--n-boot" not in parser.format_help()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--sample", "--out", "x", "--n-boot", "50"])
    assert exited.value.code == 2
