"""pyproject.toml and environment.yml are two front doors to one dependency list; keep them equal.

Names are compared after PEP 503 normalisation, and version constraints too, for the runtime
dependencies and the ``dev`` extra together. Conda-only build tools (a compiler for
llama-cpp-python) and the editable install of tipbench itself are the only allowed extras.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO_ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip", "cmake", "c-compiler", "cxx-compiler"}
"""Present in environment.yml only: the interpreter, pip, and what pip needs to build llama.cpp."""


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(lines: list[str]) -> dict[str, SpecifierSet]:
    """Requirement strings (pip or simple conda match specs) by normalised name."""
    parsed: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        name = normalise(req.name)
        if name in parsed:
            raise AssertionError(f"{name} is listed twice")
        parsed[name] = req.specifier
    return parsed


def pyproject_requirements(path: Path) -> tuple[dict[str, SpecifierSet], SpecifierSet]:
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return parse_requirements(lines), SpecifierSet(project["requires-python"])


def environment_requirements(path: Path) -> tuple[dict[str, SpecifierSet], SpecifierSet]:
    """Conda and pip entries of environment.yml, minus conda-only tools; and its python spec."""
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    pip = [line for section in pip_sections for line in section if not line.startswith("-e ")]
    everything = parse_requirements([*conda, *pip])
    python = everything.get("python", SpecifierSet())
    return {k: v for k, v in everything.items() if k not in CONDA_ONLY}, python


def drift(pyproject: dict[str, SpecifierSet], environment: dict[str, SpecifierSet]) -> list[str]:
    """Every difference between the two lists, worded so the fix is obvious."""
    problems = [
        f"{name} is in pyproject.toml but not in environment.yml"
        for name in sorted(pyproject.keys() - environment.keys())
    ]
    problems += [
        f"{name} is in environment.yml but not in pyproject.toml"
        for name in sorted(environment.keys() - pyproject.keys())
    ]
    problems += [
        f"{name}: pyproject.toml says {pyproject[name] or 'any'!s}, "
        f"environment.yml says {environment[name] or 'any'!s}"
        for name in sorted(pyproject.keys() & environment.keys())
        if pyproject[name] != environment[name]
    ]
    return problems


def test_environment_yml_matches_pyproject() -> None:
    py_reqs, py_python = pyproject_requirements(REPO_ROOT / "pyproject.toml")
    env_reqs, env_python = environment_requirements(REPO_ROOT / "environment.yml")
    assert len(py_reqs) >= 10, "pyproject.toml should list the runtime and dev dependencies"
    problems = drift(py_reqs, env_reqs)
    assert not problems, "dependency lists drifted:\n" + "\n".join(problems)
    assert env_python == py_python, (
        f"environment.yml pins python {env_python}, pyproject.toml requires {py_python}"
    )


def test_environment_yml_uses_conda_forge_and_installs_tipbench() -> None:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"][0] == "conda-forge"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


@pytest.mark.parametrize(
    ("env_lines", "expected"),
    [
        (["marimo>=0.17", "Polars>=1.20"], []),
        (["marimo>=0.17"], ["polars is in pyproject.toml but not in environment.yml"]),
        (
            ["marimo>=0.17", "polars>=1.20", "pandas"],
            ["pandas is in environment.yml but not in pyproject.toml"],
        ),
        (
            ["marimo>=0.16", "polars>=1.20"],
            ["marimo: pyproject.toml says >=0.17, environment.yml says >=0.16"],
        ),
        (
            ["marimo", "polars>=1.20"],
            ["marimo: pyproject.toml says >=0.17, environment.yml says any"],
        ),
    ],
)
def test_drift_is_detected(env_lines: list[str], expected: list[str]) -> None:
    pyproject = parse_requirements(["marimo>=0.17", "polars>=1.20"])
    assert drift(pyproject, parse_requirements(env_lines)) == expected


def test_names_are_normalised_like_pip() -> None:
    assert normalise("Vl_Convert.Python") == "vl-convert-python"
    assert (
        drift(
            parse_requirements(["llama_cpp_python>=0.3.8"]),
            parse_requirements(["llama-cpp-python>=0.3.8"]),
        )
        == []
    )
