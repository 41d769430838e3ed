"""``pip install .`` (not editable) into a fresh environment outside the checkout, then use it.

This is the conda environment, the Docker image, the colleague's machine: no checkout, so the
rubric, prompts, scenarios and the sample must come with the package. To stay fast the fresh
environment borrows the dependencies already installed in this one (a ``.pth`` file naming its
site-packages) and installs only tipbench itself, with ``--no-deps``; the test checks that
``tipbench_lib`` then comes from the fresh environment's own copy, never from the checkout.
"""

from __future__ import annotations

import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def source_copy(target: Path) -> Path:
    """The checkout's files as git sees them (tracked and new, not ignored), outside it.

    pip builds in the source tree; building from a copy leaves no ``build/`` in the checkout.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (target / name.decode()).write_bytes(source.read_bytes())
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding a non-editable tipbench; returns its bin folder."""
    base = tmp_path_factory.mktemp("installed")
    env_dir = base / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # A plain path line: this environment's packages become importable, but the .pth files in
    # them (such as the editable install of tipbench pointing at the checkout) are not run.
    (Path(fresh_site) / "borrowed-dependencies.pth").write_text(ours + "\n", encoding="utf-8")
    source = source_copy(base / "source")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        check=True,
        capture_output=True,
        cwd=base,
    )
    return env_dir / "bin"


def run(bin_dir: Path, *args: str, cwd: Path, env: dict[str, str], timeout: float = 900):
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_package_comes_from_the_fresh_environment_with_its_data(
    installed, mlflow_env, tmp_path
):
    where = run(
        installed,
        "python",
        "-c",
        "import tipbench_lib, tipbench_lib.core.paths as p; print(tipbench_lib.__file__); "
        "print(p.SHIPPED_DATA)",
        cwd=tmp_path,
        env=mlflow_env,
    )
    assert where.returncode == 0, where.stderr
    package, data = where.stdout.splitlines()
    assert package.startswith(str(installed.parent)), package
    assert not package.startswith(str(ROOT)) and "site-packages" in package
    for name in ("rubric/tip-v1.toml", "prompts/v1.toml", "scenarios.toml", "sample/cells.parquet"):
        assert (Path(data) / name).is_file(), name


def test_compare_on_the_shipped_sample(installed, mlflow_env, tmp_path):
    compared = run(installed, "tipbench", "compare", "--sample", "--out", "r", cwd=tmp_path,
                   env=mlflow_env)  # fmt: skip
    assert compared.returncode == 0, compared.stderr[-3000:]
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "llm:claude-assistant" in html, "the sample's judges are in the report"


def test_collect_with_the_embedded_models_from_another_directory(
    installed, mlflow_env, experiment_name, tmp_path
):
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    grid = ["--backend", "embedded", "--models", "smollm2-135m", "--prompts", "v1"]
    grid += ["--scenarios", "1", "--n-tips", "1", "--max-tokens", "24"]
    collected = run(
        installed, "tipbench", "collect", "--experiment", experiment_name, *grid, cwd=elsewhere,
        env=mlflow_env,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr[-3000:]
    assert "cells: 1 done, 0 failed" in collected.stdout
    assert "using the embedded llama.cpp models" in collected.stderr
