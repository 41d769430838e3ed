"""The notebooks outside their usual home: marimo's own checks, and Jupyter through nbval.

Jupyter users open the ipynb that ``marimo export ipynb`` writes; there marimo's runtime is
absent, so the notebooks must run top to bottom without crashing (on the shipped sample).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("collect", "judge", "compare")
BIN = Path(sys.executable).parent


def test_marimo_check_is_clean():
    result = subprocess.run(
        [str(BIN / "marimo"), "check", "--strict", *(f"notebooks/{n}.py" for n in NOTEBOOKS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_exported_notebooks_run_under_jupyter(tmp_path, mlflow_env):
    for name in NOTEBOOKS:
        subprocess.run(
            [
                str(BIN / "marimo"),
                "export",
                "ipynb",
                f"notebooks/{name}.py",
                "-o",
                str(tmp_path / f"{name}.ipynb"),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
    env = {**mlflow_env, "OLLAMA_HOST": "http://127.0.0.1:9"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--rootdir",
            str(tmp_path),
            *(str(tmp_path / f"{n}.ipynb") for n in NOTEBOOKS),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
