"""``tipbench``: one command for every phase, installed with the package.

``tipbench collect|judge|compare ...`` takes exactly the arguments of ``python notebooks/<phase>.py
...`` and returns the same exit status, because both call the phase's own ``main(argv)``
(``tipbench_lib.<phase>.cli``); ``tipbench demo`` runs the whole job on the embedded models and
``tipbench mlflow-ui`` keeps tipbench's MLflow server up for browsing. Exit statuses are those of
:mod:`tipbench_lib.core.errors`: 0 done, 1 some work failed, 2 refused before anything ran,
3 interrupted (run the same command again to resume).

Each phase's module is imported only when its command runs, so ``tipbench --help`` and a typo
answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tipbench_lib import __version__
from tipbench_lib.core.errors import refuse

COMMANDS: dict[str, tuple[str, str]] = {
    "collect": (
        "tipbench_lib.collect.cli",
        "generate candidate tips for a grid of model x prompt version x scenario",
    ),
    "judge": (
        "tipbench_lib.judge.cli",
        "score candidates with an LLM judge, or export them for outside judges and apply the file",
    ),
    "compare": (
        "tipbench_lib.compare.cli",
        "leaderboard, verdicts and an offline HTML report (an experiment or a snapshot)",
    ),
    "status": (
        "tipbench_lib.tracking.status",
        "where an experiment stands in MLflow (cells, tips, judged tips) as JSON",
    ),
    "demo": (
        "tipbench_lib.demo",
        "the whole job on the embedded models: collect, LLM-judge, compare, report.html",
    ),
    "mlflow-ui": (
        "tipbench_lib.tracking.server",
        "keep tipbench's MLflow server up to browse its UI (Ctrl-C to leave it)",
    ),
}
"""Command → (module with ``main(argv, *, prog)``, one line for ``tipbench --help``)."""


def top_parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS) + 2
    listing = "\n".join(f"  {name:<{width}}{line}" for name, (_, line) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="tipbench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Decide, with evidence, which small local LLM and which prompt write the "
        "best short tips.",
        epilog=f"commands:\n{listing}\n\n"
        "`tipbench COMMAND --help` lists a command's options.\n"
        "Exit status: 0 done, 1 some work failed, 2 refused before anything ran,\n"
        "3 interrupted (run the same command again to resume).",
    )
    parser.add_argument("--version", action="version", version=f"tipbench {__version__}")
    parser.add_argument("command", metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tipbench COMMAND ARGS...``; returns the command's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        module, _ = COMMANDS[args[0]]
        return importlib.import_module(module).main(args[1:], prog=f"tipbench {args[0]}")
    parsed = top_parser().parse_args(args)  # --help, --version and a missing command end here
    return refuse(f"unknown command {parsed.command!r}; choose one of: {', '.join(COMMANDS)}")


if __name__ == "__main__":
    sys.exit(main())
