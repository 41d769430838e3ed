"""``tipbench demo`` (``make demo``): the whole job on a fresh machine, as a user runs it.

Collect with the embedded models, LLM-judge with an embedded model, compare, and print where the
report is. Each step is ``python -m tipbench_lib <phase> ...`` in a process of its own, exactly as a
user or a scheduler would run it, and works the same from a checkout or an installed package. One
MLflow server serves all three steps (the embedded one, started here and stopped when the demo
ends, unless MLFLOW_TRACKING_URI names another), so it starts once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tipbench_lib.core.arguments import add_data_dir
from tipbench_lib.core.errors import EXIT_FAILED, EXIT_OK, guarded
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.paths import data_dir_for
from tipbench_lib.tracking.server import tracking_url

DEMO_MODELS = "smollm2-135m,gemma3-270m"
DEMO_JUDGE = "smollm2-135m"


def steps(experiment: str, out: Path, scenarios: int, n_tips: int) -> list[tuple[str, list[str]]]:
    """The three phases, in order, with the demo's arguments."""
    return [
        (
            "collect",
            [
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
            ["--experiment", experiment, "--backend", "embedded", "--llm-judge", DEMO_JUDGE],
        ),
        ("compare", ["--experiment", experiment, "--out", str(out)]),
    ]


def main(argv: Sequence[str] | None = None, *, prog: str = "tipbench demo") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="tipbench-demo")
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--n-tips", type=int, default=3)
    add_data_dir(parser)
    args = parser.parse_args(list(argv) if argv is not None else None)
    return guarded(lambda: _demo(args))


def _demo(args: argparse.Namespace) -> int:
    out = args.out.resolve()
    with data_dir_for(args.data_dir):
        env = dict(os.environ)  # the steps inherit TIPBENCH_DATA, so they read the same data
        # Claim the embedded server (unless one is configured) for the whole demo: every step
        # shares it through the tipbench home, so it starts once. Its address is not put in
        # MLFLOW_TRACKING_URI, which would make the steps send the environment's credentials to it.
        tracking_url()
        for name, step_args in steps(args.experiment, out, args.scenarios, args.n_tips):
            print(f"\n== {name}: {shell_command('tipbench', name, *step_args)}", flush=True)
            command = [sys.executable, "-m", "tipbench_lib", name, *step_args]
            code = subprocess.call(command, env=env)
            if code not in (EXIT_OK, EXIT_FAILED) or (code != EXIT_OK and name == "compare"):
                print(f"demo: the {name} step stopped with status {code}", file=sys.stderr)
                return code
            if code == EXIT_FAILED:
                print(f"demo: the {name} step reported failures (see above); going on")
    print(
        f"\nReport: {out / 'report.html'} (open it in any browser; it needs no network)\n"
        "Next:\n"
        "  tipbench mlflow-ui                          # browse the MLflow runs\n"
        f"  {shell_command('tipbench', 'compare', '--experiment', args.experiment, '--out', out)}"
        "   # rerun one step\n"
        "In a checkout, the notebooks:\n"
        "  .venv/bin/marimo edit notebooks/compare.py   # explore the results\n"
        "  .venv/bin/marimo run notebooks/judge.py      # judge the tips yourself"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
