"""``make demo``: the whole job on a fresh machine, through the same scripts a user runs.

Collect with the embedded models, LLM-judge with an embedded model, compare, and print where the
report is. One MLflow server serves all three steps (the embedded one, started here and
stopped when the demo ends, unless MLFLOW_TRACKING_URI names another), so it starts once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from tipbench_lib.core.paths import REPO_ROOT
from tipbench_lib.tracking.server import tracking_url

DEMO_MODELS = "smollm2-135m,gemma3-270m"
DEMO_JUDGE = "smollm2-135m"


def steps(experiment: str, out: Path, scenarios: int, n_tips: int) -> list[tuple[str, list[str]]]:
    """The three notebook scripts, in order, with the demo's arguments."""
    nb = REPO_ROOT / "notebooks"
    return [
        (
            "collect",
            [
                str(nb / "collect.py"),
                "--experiment",
                experiment,
                "--backend",
                "embedded",
                "--models",
                DEMO_MODELS,
                "--prompts",
                "v1,v2-mentor,v3-few-shot",
                "--scenarios",
                str(scenarios),
                "--n-tips",
                str(n_tips),
            ],
        ),
        (
            "judge",
            [
                str(nb / "judge.py"),
                "--experiment",
                experiment,
                "--backend",
                "embedded",
                "--llm-judge",
                DEMO_JUDGE,
            ],
        ),
        ("compare", [str(nb / "compare.py"), "--experiment", experiment, "--out", str(out)]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", default="tipbench-demo")
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--n-tips", type=int, default=3)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    env = dict(os.environ)
    # Claim the embedded server (unless one is configured) for the whole demo: every step shares
    # it through the tipbench home, so it starts once. Its address is not put in
    # MLFLOW_TRACKING_URI, which would make the steps send the environment's credentials to it.
    tracking_url()
    for name, cmd in steps(args.experiment, out, args.scenarios, args.n_tips):
        print(f"\n== {name}: python {' '.join(cmd)}", flush=True)
        code = subprocess.call([sys.executable, *cmd], env=env)
        if code == 2 or (code != 0 and name == "compare"):
            print(f"demo: the {name} step stopped with status {code}", file=sys.stderr)
            return code
        if code == 1:
            print(f"demo: the {name} step reported failures (see above); going on")
    print(
        f"\nReport: {out / 'report.html'} (open it in any browser; it needs no network)\n"
        "Notebooks:\n"
        "  .venv/bin/marimo edit notebooks/compare.py   # explore the results\n"
        "  .venv/bin/marimo run notebooks/judge.py      # judge the tips yourself\n"
        "  make mlflow-ui                               # browse the MLflow runs\n"
        f"Rerun any step as a script, e.g. .venv/bin/python notebooks/compare.py "
        f"--experiment {args.experiment} --out {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
