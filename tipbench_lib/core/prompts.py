"""Prompt versions: one TOML file per version in ``prompts/`` of the data directories.

Each file holds a chat form (``system`` and ``user`` templates) for instruct models and a ``raw``
completion template for base models, which continue text rather than follow instructions. The
``content_hash`` covers everything in the file a model or reader could see, and is logged with
every cell, so editing a prompt can never be confused with the old one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from tipbench_lib.core.datafile import Table, read_toml
from tipbench_lib.core.errors import DataFileError, TipbenchError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.paths import data_files
from tipbench_lib.core.scenarios import Scenario

PROMPTS_FOLDER = "prompts"
PLACEHOLDERS: tuple[str, ...] = (
    "persona_name",
    "persona_description",
    "time_slot",
    "time_slot_description",
    "tasks",
)
TEMPLATE_KEYS: tuple[str, ...] = ("system", "user", "raw")
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class PromptVersion:
    """One prompt version, ready to render for any scenario."""

    version: str
    description: str
    system: str
    user: str
    raw: str
    raw_stop: tuple[str, ...]
    """Where a base model's completion ends (the backend passes these as stop sequences)."""
    path: Path

    @property
    def content_hash(self) -> str:
        """A hash of the parsed content: any edit to a template or field changes it.

        Hashing the parsed values rather than the bytes means line endings or TOML layout do not
        matter, while every character a model sees does.
        """
        return content_hash(
            {
                "version": self.version,
                "description": self.description,
                "system": self.system,
                "user": self.user,
                "raw": self.raw,
                "raw_stop": list(self.raw_stop),
            }
        )

    def render_chat(self, scenario: Scenario) -> list[dict[str, str]]:
        """System and user messages for an instruct model's chat template."""
        values = placeholder_values(scenario)
        return [
            {"role": "system", "content": self.system.format(**values)},
            {"role": "user", "content": self.user.format(**values)},
        ]

    def render_raw(self, scenario: Scenario) -> str:
        """A completion prompt that ends exactly where the tip should begin."""
        return self.raw.format(**placeholder_values(scenario))


def placeholder_values(scenario: Scenario) -> dict[str, str]:
    """The values every template may use; the loader rejects any other placeholder."""
    return {
        "persona_name": scenario.persona.name,
        "persona_description": scenario.persona.description,
        "time_slot": scenario.time_slot.name,
        "time_slot_description": scenario.time_slot.description,
        "tasks": scenario.tasks_text(),
    }


def _line_of(path: Path, needle: str) -> str:
    """The line where ``needle`` first appears in the file, to point the user at it."""
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                return f", line {number}"
    except OSError:
        pass
    return ""


def check_template(table: Table, key: str) -> str:
    """Read a template and reject placeholders ``render_*`` could not fill.

    Found at load, a typo such as ``{persona}`` fails before any model is loaded instead of
    crashing mid-grid. Literal braces must be doubled (``{{`` and ``}}``).
    """
    template = table.text(key)
    try:
        parsed = [
            (f, spec, conv) for _, f, spec, conv in _FORMATTER.parse(template) if f is not None
        ]
    except ValueError as exc:
        raise table.fail(
            key, f"malformed template ({exc}); write literal braces as {{{{ and }}}}"
        ) from exc
    for name, spec, conv in parsed:
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}"
            raise DataFileError(
                table.file,
                table.key_path(key) + _line_of(table.file, shown),
                f"unknown placeholder {shown}; expected only "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                + " (write literal braces as {{ and }})",
            )
        if spec or conv:
            raise table.fail(
                key,
                f"placeholder {{{name}}} has a format spec or conversion; expected a bare name",
            )
    return template


def load_prompt(path: Path) -> PromptVersion:
    """One prompt file, validated; its ``version`` must match the file name."""
    path = Path(path)
    table = Table(read_toml(path), path)
    table.only("version", "description", "raw_stop", *TEMPLATE_KEYS)
    version = table.identifier("version")
    if version != path.stem:
        raise table.fail(
            "version", f"is {version!r}; expected {path.stem!r} to match the file name"
        )
    return PromptVersion(
        version=version,
        description=table.text("description"),
        system=check_template(table, "system"),
        user=check_template(table, "user"),
        raw=check_template(table, "raw"),
        raw_stop=table.strings("raw_stop"),
        path=path,
    )


def prompt_files(directory: Path | None = None) -> dict[str, Path]:
    """Every ``*.toml`` prompt file by version (the file name), without reading any.

    From ``directory`` alone when given, else from the data directories (a user's file replaces
    the shipped file of the same name).
    """
    files, where = data_files(PROMPTS_FOLDER, directory)
    if not files:
        raise DataFileError(
            where,
            "directory",
            "holds no *.toml prompt files; expected one file per prompt version, e.g. v1.toml",
        )
    return files


def load_prompts(directory: Path | None = None) -> dict[str, PromptVersion]:
    """Every prompt, by version, in name order; the first malformed file raises.

    For checking the whole folder (tests, review). A run reads only the versions it asks for
    (:func:`get_prompt`); a listing reports bad files beside the good ones (:func:`list_prompts`).
    """
    files = prompt_files(directory)
    return {p.version: p for p in (load_prompt(f) for f in files.values())}


@dataclass(frozen=True)
class PromptListing:
    """The prompt versions that load, and the files that do not, each with its problem."""

    prompts: dict[str, PromptVersion]
    problems: tuple[DataFileError, ...]

    def problem_lines(self) -> list[str]:
        return [f"{p} (this version cannot be used until the file is fixed)" for p in self.problems]


def list_prompts(directory: Path | None = None) -> PromptListing:
    """Every prompt version for a picker: one malformed file is reported, not fatal to the rest."""
    prompts: dict[str, PromptVersion] = {}
    problems: list[DataFileError] = []
    for path in prompt_files(directory).values():
        try:
            prompt = load_prompt(path)
        except DataFileError as exc:
            problems.append(exc)
        else:
            prompts[prompt.version] = prompt
    return PromptListing(prompts, tuple(problems))


def get_prompt(version: str, directory: Path | None = None) -> PromptVersion:
    """The prompt named ``version``, parsing only its own file.

    A malformed file for another version must not block a run that does not use it. The version
    is looked up among the folders' file names, never joined into a path, so ``../x`` cannot reach
    a file outside the prompts folders.
    """
    files = prompt_files(directory)
    if version not in files:
        where = data_files(PROMPTS_FOLDER, directory)[1]
        raise TipbenchError(
            f"unknown prompt version {version!r}; known versions: {', '.join(files)} "
            f"(files in {where})"
        )
    return load_prompt(files[version])
