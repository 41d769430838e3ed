"""What the layout promises: phase packages that say what they do, the exit statuses and the
refusal defined once, and one name for a cell wherever a reader meets it."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from tipbench_lib import stats
from tipbench_lib.compare import charts, report
from tipbench_lib.compare.analysis import Options, analyse
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.core.cells import cell_label
from tipbench_lib.tracking.mapping import run_name
from tipbench_lib.validation import synthetic

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "tipbench_lib"
PACKAGES = ("core", "collect", "judge", "compare", "stats", "backends", "tracking")


def sources() -> list[Path]:
    return [*LIB.rglob("*.py"), *(ROOT / "notebooks").glob("*.py")]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_says_what_it_does_and_lists_its_public_names(name):
    package = importlib.import_module(f"tipbench_lib.{name}")
    assert package.__doc__ and len(package.__doc__.split()) >= 25, "one paragraph, at least"
    assert package.__all__, f"tipbench_lib.{name} lists no public names"
    for public in package.__all__:
        assert getattr(package, public) is not None, public


def test_the_refusal_is_printed_from_one_place():
    printing = [p for p in sources() if "tipbench: refused" in p.read_text(encoding="utf-8")]
    assert printing == [LIB / "core" / "errors.py"], printing


def test_exit_statuses_are_defined_once_and_never_written_as_numbers():
    defined = [
        path
        for path in sources()
        if re.search(r"^EXIT_\w+\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert defined == [LIB / "core" / "errors.py"], defined
    literal = re.compile(r"(\breturn|\bsys\.exit\(|\bexit\()\s*[1-3]\s*(\)|$)", re.MULTILINE)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sources()
        for match in literal.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


def test_a_cell_is_named_the_same_in_sentences_headlines_tables_and_charts():
    experiment = synthetic.generate(n_models=2, n_prompts=2, n_scenarios=6, seed=3)
    data = analyse(
        ExperimentData(
            experiment.cells, experiment.candidates, experiment.judgments, {"experiment": "x"}
        ),
        Options(n_boot=50),
    )
    best = data.leaderboard.row(0, named=True)
    label = cell_label(best["model"], best["prompt_version"])
    assert label == f"{best['model']} · {best['prompt_version']}"
    row = data.comparisons.row(0, named=True)
    assert stats.sentence(row).startswith(cell_label(row["a_model"], row["a_prompt"]))
    assert label in data.headline, "the headline names the best cell"
    page = report.render(data)
    assert f"Highest mean: {label}, composite" in page
    spec = json.dumps(charts.forest_plot(data.leaderboard).to_dict(), ensure_ascii=False)
    assert f'"cell": "{label}"' in spec, "the chart's rows carry the same label"
    assert run_name("m", "p", "s") == "m | p | s", "MLflow's run name keeps its documented form"
