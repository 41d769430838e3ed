"""Command-line pieces every phase shares: comma lists and the data directory option.

``tipbench collect|judge|compare`` and the notebooks' script mode parse their arguments with the
phases' own parsers; what those parsers have in common is defined here once, so an option reads
and behaves the same in every phase.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tipbench_lib.core.paths import DATA_ENV


def split_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b"]`` → ``("a", "b")``; blanks dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if s and s.strip())


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``: the user's own prompts, rubrics and scenarios on top of the shipped."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"your own data directory (default: ${DATA_ENV}, if set): its prompts/*.toml, "
        "rubric/*.toml and scenarios.toml replace the shipped files of the same name and add "
        "to the rest",
    )


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``argv`` (None: the process's own arguments) parsed by ``parser``."""
    return parser.parse_args(list(argv) if argv is not None else None)
