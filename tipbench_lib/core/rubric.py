"""The scoring rubric: the only definition of a score.

Everything a score is lives in one versioned TOML file (``rubric/<version>.toml`` in the data
directories, see :mod:`tipbench_lib.core.paths`): the dimensions with their scale and anchored
levels, the yes/no flags with their automatic checks, and the composite's weights. Everything that
shows, asks for, checks or counts a score reads it from a :class:`Rubric`: the judging card, the
export file, the LLM judge's instructions and JSON schema, the one validator
(:meth:`Rubric.problems`), the composite, the frames' columns (:mod:`tipbench_lib.core.schema`),
the statistics' ranges and the charts' titles. A new rubric is therefore one new file, never code,
and the human page ``data/rubric.md`` is generated from the same file so the two cannot disagree.

An experiment records the rubric it was collected with (its name, version, content hash and the
file's text, see :mod:`tipbench_lib.tracking.experiment`), so judging and comparing it on another
machine uses that rubric, never a local default.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tipbench_lib.core.datafile import Table, parse_toml, read_text
from tipbench_lib.core.errors import DataFileError, JudgingError, TipbenchError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.paths import SHIPPED_DATA, data_files
from tipbench_lib.core.records import RubricRef
from tipbench_lib.core.schema import RESERVED_SCORE_IDS, RESERVED_SUFFIXES

RUBRIC_FOLDER = "rubric"
RUBRIC_PAGE = SHIPPED_DATA / "rubric.md"
"""The human page of the shipped default rubric (``python -m tipbench_lib.core.rubric``)."""
DEFAULT_RUBRIC = "tip-v1"
"""The rubric ``--rubric`` defaults to, and the one an experiment that recorded none was scored
on (every experiment collected before rubrics were recorded used it)."""
SCORE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
"""A dimension's or flag's id: it becomes a column, a JSON key and an MLflow metric name."""
MAX_WEIGHT = 1000.0
"""The largest composite weight, either sign. A weight is a number people chose to add scores
with; one beyond this (1e308, an infinity, NaN) makes no composite the statistics can use, so the
validator refuses it wherever a rubric is read: a file, an experiment's record, a snapshot."""
SCALE_BOUND = 1000
"""A scale's ends lie within -1000 and 1000 ..."""
MAX_SCALE_POINTS = 101
"""... and it has at most 101 points (0 to 100): one anchored level each, every one shown on a
judging card and sent to the LLM judge."""
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“"}


def clean_tip(raw: str) -> str:
    """Strip surrounding whitespace and quotes wrapping the whole tip, and nothing else.

    The judge must see what the model wrote, so only what no app would display is removed. Quotes
    are removed only when they wrap the whole text (``"A" and "B"`` keeps its quotes).
    """
    text = raw.strip()
    while len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1]
        if text[0] in inner or text[-1] in inner:
            break
        text = inner.strip()
    return text


@dataclass(frozen=True)
class Level:
    """One anchored point of a dimension's scale, with an example tip at that level."""

    score: int
    anchor: str
    example: str


@dataclass(frozen=True)
class Dimension:
    """A scored aspect of a tip, on the rubric's scale, each point anchored."""

    id: str
    name: str
    question: str
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class BannedPattern:
    """A regex whose match breaks a format rule, with the reason shown to judges."""

    pattern: re.Pattern[str]
    reason: str


@dataclass(frozen=True)
class FormatExample:
    """A tip with the verdict the automatic format check must give it."""

    text: str
    passes: bool


@dataclass(frozen=True)
class FormatRule:
    """What a well-formed tip is, as an automatic check (sentences, prefixes, patterns)."""

    min_sentences: int
    max_sentences: int
    sentence_split: re.Pattern[str]
    banned_prefixes: tuple[str, ...]
    banned_patterns: tuple[BannedPattern, ...]
    examples: tuple[FormatExample, ...]

    def problems(self, text: str) -> list[str]:
        """Every way ``text`` breaks the rule (empty when it follows it)."""
        problems = []
        n = count_sentences(text, self.sentence_split)
        if not self.min_sentences <= n <= self.max_sentences:
            problems.append(f"{n} sentences; expected {self.min_sentences} to {self.max_sentences}")
        prefix = banned_prefix(text, self.banned_prefixes)
        if prefix is not None:
            problems.append(f"starts with the preamble {prefix!r}")
        problems.extend(b.reason for b in self.banned_patterns if b.pattern.search(text))
        return problems


@dataclass(frozen=True)
class Flag:
    """A yes/no part of a judgment, optionally pre-filled by an automatic check.

    ``format`` makes the flag true when the tip follows the rule; ``longer_than`` makes it true
    when the tip has more characters than that. A flag without either is the judge's alone.
    """

    id: str
    name: str
    description: str
    format: FormatRule | None = None
    longer_than: int | None = None

    @property
    def automatic(self) -> bool:
        return self.format is not None or self.longer_than is not None

    def check(self, text: str) -> tuple[bool, list[str]]:
        """The automatic verdict on ``text`` and the reasons behind a verdict against the tip."""
        if self.format is not None:
            problems = self.format.problems(text)
            return not problems, problems
        if self.longer_than is not None:
            over = len(text) > self.longer_than
            why = [f"{self.id}: {len(text)} characters, more than {self.longer_than}"]
            return over, why if over else []
        raise TipbenchError(f"flag {self.id!r} has no automatic check")

    @property
    def label(self) -> str:
        """The flag's name, with its limit when it has one: a checkbox's label."""
        if self.longer_than is not None:
            return f"{self.name}: more than {self.longer_than} characters"
        return self.name

    def meaning(self) -> str:
        """What ``true`` means, for people and for the LLM judge."""
        if self.longer_than is not None:
            return (
                f"{self.description} True when the tip has more than {self.longer_than} characters."
            )
        return self.description


Part = TypeVar("Part", Dimension, Flag)


@dataclass(frozen=True)
class ExampleContext:
    """The user every level example was written for, so examples can be compared."""

    persona: str
    time_slot: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class AutoChecks:
    """The automatic verdicts on a tip, by flag id; ``reasons`` says what went against it."""

    flags: dict[str, bool]
    char_count: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    """A versioned rubric, loaded and validated from its TOML text."""

    name: str
    """How it is asked for (``--rubric NAME``): the file name without ``.toml``."""
    version: str
    """What judgments record (``rubric_version``); equal to ``name`` for every file."""
    title: str
    summary: str
    scale_min: int
    scale_max: int
    example_context: ExampleContext | None
    dimensions: tuple[Dimension, ...]
    flags: tuple[Flag, ...]
    composite_description: str
    weights: dict[str, float]
    text: str
    """The file's exact content: recorded with an experiment so another machine judges with it."""
    path: Path | None = None
    """The file it came from; None for a rubric read from an experiment's record."""
    source: str = field(default="", compare=False)
    """Where the text was read (a file, an experiment's tag, a snapshot's ``rubric.toml``), for
    messages about the record; '' when ``path`` says it."""

    # --- what a judgment holds ----------------------------------------------------------------

    @property
    def dimension_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.dimensions)

    @property
    def flag_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.flags)

    @property
    def automatic_flag_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.flags if f.automatic)

    @property
    def part_ids(self) -> tuple[str, ...]:
        """Every dimension, then every flag: the keys of a judgment's scores."""
        return (*self.dimension_ids, *self.flag_ids)

    @property
    def scores(self) -> tuple[int, ...]:
        """The values a dimension can take."""
        return tuple(range(self.scale_min, self.scale_max + 1))

    @property
    def content_hash(self) -> str:
        """The file's content hash; line endings do not count (a Windows checkout hashes alike)."""
        return content_hash(self.text.replace("\r\n", "\n"))

    @property
    def ref(self) -> RubricRef:
        return RubricRef(self.name, self.version, self.content_hash)

    def dimension(self, dimension_id: str) -> Dimension:
        return self._part(self.dimensions, dimension_id, "dimension")

    def flag(self, flag_id: str) -> Flag:
        return self._part(self.flags, flag_id, "flag")

    def _part(self, parts: tuple[Part, ...], wanted: str, what: str) -> Part:
        """The dimension or flag ``wanted``, or an error listing the rubric's own."""
        for part in parts:
            if part.id == wanted:
                return part
        known = ", ".join(p.id for p in parts) or "none"
        raise JudgingError(
            f"rubric {self.version} has no {what} {wanted!r}; its {what}s are {known}"
        )

    def label(self, part: str) -> str:
        """A dimension's or flag's name as people read it (the composite is "Composite")."""
        if part == "composite":
            return "Composite"
        if part in self.dimension_ids:
            return self.dimension(part).name
        return self.flag(part).name

    # --- ranges, in numbers and in words ------------------------------------------------------

    @property
    def composite_range(self) -> tuple[float, float]:
        """The lowest and highest composite the weights allow (2 and 17 for tip-v1)."""
        low = high = 0.0
        for dim in self.dimension_ids:
            ends = (self.weights[dim] * self.scale_min, self.weights[dim] * self.scale_max)
            low, high = low + min(ends), high + max(ends)
        for flag in self.flag_ids:
            low, high = low + min(0.0, self.weights[flag]), high + max(0.0, self.weights[flag])
        return low, high

    @property
    def scale_text(self) -> str:
        """A dimension's range as a title shows it: ``1–5``."""
        return f"{self.scale_min}–{self.scale_max}"

    @property
    def composite_text(self) -> str:
        """The composite's range as a title shows it: ``2–17``."""
        low, high = self.composite_range
        return f"{low:g}–{high:g}"

    # --- automatic checks ---------------------------------------------------------------------

    def auto_checks(self, text: str) -> AutoChecks:
        """Every automatic flag's verdict from the rubric's own parameters, with reasons."""
        values: dict[str, bool] = {}
        reasons: list[str] = []
        for flag in self.flags:
            if flag.automatic:
                values[flag.id], why = flag.check(text)
                reasons += why
        return AutoChecks(values, len(text), tuple(reasons))

    # --- the one validator, and the composite ---------------------------------------------------

    def problems(
        self, values: Mapping[str, Any], *, shown: Callable[[Any], str] = repr, prefix: str = ""
    ) -> list[str]:
        """Every reason ``values`` (dimension and flag ids to scores) is not a judgment here.

        The only check of a score anywhere: the app's save, an import file, the LLM judge's answer
        and the composite all use it, so a score means the same wherever it comes from.
        ``prefix`` says where the scores sit (``scores.`` in an import file) and ``shown`` how a
        wrong value is quoted (an import cuts a huge one short).
        """
        found = []
        missing = [p for p in self.part_ids if p not in values]
        if missing:
            found.append(
                f"missing {', '.join(prefix + m for m in missing)}; rubric {self.version} "
                f"scores {', '.join(self.part_ids)}"
            )
        unknown = sorted(set(values) - set(self.part_ids))
        if unknown:
            found.append(
                f"unknown score field(s) {', '.join(prefix + u for u in unknown)}; rubric "
                f"{self.version} scores {', '.join(self.part_ids)}"
            )
        for dim in self.dimension_ids:
            if dim in values and not self.is_score(values[dim]):
                found.append(
                    f"{prefix}{dim} must be an integer from {self.scale_min} to {self.scale_max} "
                    f"(rubric {self.version}), got {shown(values[dim])}"
                )
        for flag in self.flag_ids:
            if flag in values and not is_flag(values[flag]):
                found.append(f"{prefix}{flag} must be true or false, got {shown(values[flag])}")
        return found

    def check(self, values: Mapping[str, Any]) -> dict[str, int | bool]:
        """``values`` as a judgment's scores, or a :class:`JudgingError` naming every problem."""
        problems = self.problems(values)
        if problems:
            raise JudgingError("; ".join(problems))
        return {
            p: (int(values[p]) if p in self.dimension_ids else bool(values[p]))
            for p in self.part_ids
        }

    def is_score(self, value: Any) -> bool:
        """A whole number on the scale (bools are not scores)."""
        whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return whole and self.scale_min <= value <= self.scale_max

    def composite_of(self, values: Mapping[str, Any]) -> float:
        """The weighted sum the rubric file defines, after checking every part."""
        checked = self.check(values)
        return float(sum(self.weights[p] * int(checked[p]) for p in self.part_ids))

    # --- for the LLM judge ----------------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of a judgment's scores, for constrained LLM output.

        Scores are an ``enum`` rather than ``minimum``/``maximum`` because every grammar
        converter (Ollama's ``format``, llama.cpp's) supports enums.
        """
        properties: dict[str, Any] = {
            dim.id: {"type": "integer", "enum": list(self.scores), "description": dim.question}
            for dim in self.dimensions
        }
        for flag in self.flags:
            properties[flag.id] = {"type": "boolean", "description": flag.meaning()}
        return {
            "title": f"{self.version} judgment",
            "type": "object",
            "properties": properties,
            "required": list(self.part_ids),
            "additionalProperties": False,
        }

    def prompt_text(self, include_examples: bool = False) -> str:
        """The rubric as plain text for a judge prompt (examples optional: they cost context)."""
        lines = [f"Rubric {self.version}: {self.title}", self.summary, ""]
        lines.append(f"Score each dimension from {self.scale_min} to {self.scale_max}.")
        for dim in self.dimensions:
            lines += ["", f"{dim.id}: {dim.question}"]
            for level in dim.levels:
                lines.append(f"  {level.score} = {level.anchor}")
                if include_examples:
                    lines.append(f"      e.g. {level.example}")
        if self.flags:
            lines.append("")
        lines += [f"{flag.id} (true or false): {flag.meaning()}" for flag in self.flags]
        return "\n".join(lines)

    def answer_rule(self) -> str:
        """How the LLM judge must answer, in the rubric's own keys and range."""
        flags = f" and true or false for {', '.join(self.flag_ids)}" if self.flags else ""
        return (
            f"Answer with one JSON object and nothing else: the keys "
            f"{', '.join(self.part_ids)}, with integer scores from {self.scale_min} to "
            f"{self.scale_max} for {', '.join(self.dimension_ids)}{flags}."
        )

    # --- judgments under another rubric -----------------------------------------------------------

    def other_rubric(self, version: str | None, content_hash: str = "") -> str:
        """Why a judgment under ``version`` (and hash) cannot join this rubric's, or ''."""
        if version == self.version and (not content_hash or content_hash == self.content_hash):
            return ""
        said = f"rubric {version!r}" if version else "no rubric version"
        if version == self.version:
            said += f" with content hash {content_hash} (this one's is {self.content_hash})"
        return (
            f"the experiment is scored on rubric {self.version!r} (content hash "
            f"{self.content_hash}) but the judgment says {said}; judge it again with the "
            f"experiment's rubric (export a new file with `tipbench judge --export`), or keep "
            f"judgments of another rubric in an experiment collected with it"
        )


def count_sentences(text: str, split: re.Pattern[str]) -> int:
    return sum(1 for piece in split.split(text.strip()) if piece.strip())


def banned_prefix(text: str, prefixes: tuple[str, ...]) -> str | None:
    """The banned prefix ``text`` starts with, matched case-insensitively as a whole word."""
    folded = text.lstrip().casefold()
    for prefix in prefixes:
        p = prefix.casefold()
        if not folded.startswith(p):
            continue
        following = folded[len(p) : len(p) + 1]
        if p[-1].isalnum() and following.isalnum():
            continue
        return prefix
    return None


def is_flag(value: Any) -> bool:
    """True or false, numpy's included (a frame's row gives ``numpy.bool_``)."""
    return type(value).__name__ in ("bool", "bool_")


# --- Loading ---------------------------------------------------------------------------------


def _levels(table: Table, scale: range) -> tuple[Level, ...]:
    levels = []
    for t in table.tables("levels"):
        t.only("score", "anchor", "example")
        levels.append(
            Level(
                score=t.integer("score", minimum=scale.start, maximum=scale.stop - 1),
                anchor=t.text("anchor"),
                example=t.text("example"),
            )
        )
    scores = [lv.score for lv in levels]
    for s in scale:
        if s not in scores:
            raise table.fail(
                "levels",
                f"level {s} is missing; expected one level for each score "
                f"{scale.start} to {scale.stop - 1}",
            )
    if len(scores) != len(set(scores)):
        raise table.fail("levels", "a score appears twice; expected exactly one level per score")
    return tuple(sorted(levels, key=lambda lv: lv.score))


def _score_id(table: Table) -> str:
    """A dimension's or flag's id: a lowercase name that is not a column of its own."""
    value = table.text("id")
    if not SCORE_ID.match(value):
        raise table.fail(
            "id",
            f"{value!r} is not a valid id; expected lowercase letters, digits and underscores, "
            "starting with a letter (it becomes a column and a JSON key)",
        )
    if value in RESERVED_SCORE_IDS or value.endswith(RESERVED_SUFFIXES):
        raise table.fail(
            "id",
            f"{value!r} is a name tipbench's frames already use (or ends like one: "
            f"{', '.join(RESERVED_SUFFIXES)}); choose another id",
        )
    return value


def _dimension(table: Table, scale: range) -> Dimension:
    table.only("id", "name", "question", "levels")
    return Dimension(
        id=_score_id(table),
        name=table.text("name"),
        question=table.text("question"),
        levels=_levels(table, scale),
    )


def _regex(table: Table, key: str) -> re.Pattern[str]:
    source = table.get(key, str)
    try:
        return re.compile(source)
    except re.error as exc:
        raise table.fail(
            key, f"invalid regular expression ({exc}); expected a Python regex"
        ) from exc


def _format_rule(table: Table) -> FormatRule:
    table.only(
        "min_sentences",
        "max_sentences",
        "sentence_split",
        "banned_prefixes",
        "banned_patterns",
        "examples",
    )
    banned = []
    for t in table.tables("banned_patterns", min_len=0) if "banned_patterns" in table.data else []:
        t.only("pattern", "reason")
        banned.append(BannedPattern(_regex(t, "pattern"), t.text("reason")))
    examples = []
    for t in table.tables("examples", min_len=0) if "examples" in table.data else []:
        t.only("text", "passes")
        examples.append(FormatExample(t.get("text", str), t.get("passes", bool)))
    min_sentences = table.integer("min_sentences", minimum=0)
    prefixes = table.strings("banned_prefixes") if "banned_prefixes" in table.data else ()
    return FormatRule(
        min_sentences=min_sentences,
        max_sentences=table.integer("max_sentences", minimum=max(1, min_sentences)),
        sentence_split=_regex(table, "sentence_split"),
        banned_prefixes=prefixes,
        banned_patterns=tuple(banned),
        examples=tuple(examples),
    )


def _flag(table: Table) -> Flag:
    table.only("id", "name", "description", "format", "longer_than")
    if "format" in table.data and "longer_than" in table.data:
        raise table.fail("longer_than", "a flag has one automatic check; give format or this")
    return Flag(
        id=_score_id(table),
        name=table.text("name"),
        description=table.text("description"),
        format=_format_rule(table.table("format")) if "format" in table.data else None,
        longer_than=table.integer("longer_than", minimum=1)
        if "longer_than" in table.data
        else None,
    )


def _weights(table: Table, part_ids: tuple[str, ...]) -> dict[str, float]:
    """The composite's weights: finite, at most :data:`MAX_WEIGHT` either way, not all zero."""
    table.only(*part_ids)
    weights = {}
    for key in part_ids:
        value = table.get(key, numbers.Real, optional=False)
        if isinstance(value, bool):
            raise table.fail(key, f"expected a number, got {value!r}")
        weight = float(value)
        if not (math.isfinite(weight) and abs(weight) <= MAX_WEIGHT):
            raise table.fail(
                key,
                f"is {value!r}; expected a finite number from {-MAX_WEIGHT:g} to {MAX_WEIGHT:g} "
                "(the composite adds each score times its weight)",
            )
        weights[key] = weight
    if not any(weights.values()):
        raise table.fail(None, "every weight is 0; give at least one part a weight")
    return weights


def _scale(root: Table) -> range:
    """The scores a dimension can take: whole numbers within the bounds above."""
    table = root.table("scale")
    table.only("min", "max")
    low = table.integer("min", minimum=-SCALE_BOUND, maximum=SCALE_BOUND - 1)
    high = table.integer(
        "max", minimum=low + 1, maximum=min(SCALE_BOUND, low + MAX_SCALE_POINTS - 1)
    )
    return range(low, high + 1)


def _example_context(root: Table) -> ExampleContext | None:
    if "example_context" not in root.data:
        return None
    ctx = root.table("example_context")
    ctx.only("persona", "time_slot", "tasks")
    return ExampleContext(ctx.text("persona"), ctx.text("time_slot"), ctx.strings("tasks"))


def parse_rubric(text: str, name: str, source: Path | str, path: Path | None = None) -> Rubric:
    """A rubric from its TOML text, validated; its ``version`` must be ``name``.

    The one validator of a rubric's text, run on every read (a file, an experiment's record, a
    snapshot's copy): ids, levels, finite and bounded weights and scales. ``source`` names where
    the text came from in messages.
    """
    root = Table(parse_toml(text, source), source)
    root.only(
        "version",
        "title",
        "summary",
        "scale",
        "example_context",
        "dimensions",
        "flags",
        "composite",
    )
    version = root.text("version")
    if version != name:
        raise root.fail("version", f"is {version!r}; expected {name!r} to match the file name")
    scale = _scale(root)
    low, high = scale.start, scale.stop - 1
    dim_tables = root.tables("dimensions")
    dimensions = tuple(_dimension(t, scale) for t in dim_tables)
    flag_tables = root.tables("flags", min_len=0) if "flags" in root.data else []
    flags = tuple(_flag(t) for t in flag_tables)
    ids: list[str] = []
    for t, ident in zip([*dim_tables, *flag_tables], [*dimensions, *flags], strict=True):
        if ident.id in ids:
            raise t.fail(
                "id",
                f"{ident.id!r} is used twice; expected every dimension and flag to have its own id",
            )
        ids.append(ident.id)
    composite = root.table("composite")
    composite.only("description", "weights")
    part_ids = (*(d.id for d in dimensions), *(f.id for f in flags))
    return Rubric(
        name=name,
        version=version,
        title=root.text("title"),
        summary=root.text("summary"),
        scale_min=low,
        scale_max=high,
        example_context=_example_context(root),
        dimensions=dimensions,
        flags=flags,
        composite_description=composite.text("description"),
        weights=_weights(composite.table("weights"), part_ids),
        text=text,
        path=path,
        source=str(source),
    )


def load_rubric_file(path: Path) -> Rubric:
    """A rubric file, validated; its ``version`` must match the file name."""
    path = Path(path)
    return parse_rubric(read_text(path), path.stem, path, path)


def load_rubric(version: str = DEFAULT_RUBRIC, directory: Path | None = None) -> Rubric:
    """The rubric named ``version``, or an error listing the known ones.

    From ``directory`` alone when given, else from the data directories (a user's file replaces
    the shipped one of the same name).
    """
    files, where = data_files(RUBRIC_FOLDER, directory)
    if version not in files:
        raise TipbenchError(
            f"unknown rubric version {version!r}; known versions: {', '.join(files) or 'none'} "
            f"(files in {where})"
        )
    return load_rubric_file(files[version])


def resolve_rubric(spec: str) -> Rubric:
    """``--rubric NAME|PATH``: a path to a ``.toml`` file, or a name in the data directories."""
    if spec.endswith(".toml") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise TipbenchError(
                f"--rubric {spec}: no such file; pass a rubric's name (e.g. {DEFAULT_RUBRIC}) or "
                "the path of a .toml rubric file"
            )
        return load_rubric_file(path.resolve())
    return load_rubric(spec)


def shipped_rubric(version: str = DEFAULT_RUBRIC) -> Rubric:
    """A rubric as tipbench ships it, whatever a user's data directory holds.

    What an experiment that recorded no rubric was scored on: such experiments were collected
    before rubrics were recorded, and only the shipped tip-v1 existed then.
    """
    return load_rubric(version, SHIPPED_DATA / RUBRIC_FOLDER)


def recorded_rubric(ref: RubricRef, text: str, source: str) -> Rubric:
    """The rubric an experiment recorded, validated and checked against the hash recorded beside
    it (whether its judgments were made under it is :func:`tipbench_lib.core.experiment.
    changed_since_judged`'s question)."""
    rubric = parse_rubric(text, ref.name, source)
    if ref.content_hash and rubric.content_hash != ref.content_hash:
        raise DataFileError(
            source,
            "content",
            f"hashes to {rubric.content_hash}, but the experiment recorded {ref.content_hash}; "
            "the record was edited after collecting. Restore it from the rubric file the "
            "experiment was collected with",
        )
    return rubric


# --- The human page --------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A code span that survives backticks in the text (regexes contain them)."""
    return "`` " + text.replace("\n", "\\n") + " ``"


def _format_lines(flag: Flag, rule: FormatRule) -> list[str]:
    out = [
        f"The automatic check, which pre-fills `{flag.id}` on judging cards:",
        "",
        f"- between {rule.min_sentences} and {rule.max_sentences} sentences, where sentences "
        f"are what remains after splitting at {_code(rule.sentence_split.pattern)};",
    ]
    if rule.banned_prefixes:
        out.append(
            "- does not start with any of these words (case-insensitive, whole words): "
            + ", ".join(f'"{p}"' for p in rule.banned_prefixes)
            + ";"
        )
    if rule.banned_patterns:
        out += [
            "- contains nothing matching these patterns:",
            "",
            *[f"  - {_code(b.pattern.pattern)}: {b.reason}" for b in rule.banned_patterns],
        ]
    if rule.examples:
        out += ["", f"| Tip | {flag.id} |", "| --- | --- |"]
        out += [
            f"| {_cell(_code(e.text))} | {'yes' if e.passes else 'no'} |" for e in rule.examples
        ]
    return out


def render_rubric_markdown(rubric: Rubric) -> str:
    """The human page for a rubric, generated so it can never drift from the file."""
    w = rubric.weights
    low, high = rubric.composite_range
    where = (
        f"{rubric.path.parent.name}/{rubric.path.name}" if rubric.path else f"{rubric.name}.toml"
    )
    out = [
        f"# Rubric {rubric.version}: {rubric.title}",
        "",
        f"<!-- Generated from {where} by "
        "`python -m tipbench_lib.core.rubric`; edit the TOML file, not this page. -->",
        "",
        rubric.summary,
        "",
    ]
    ctx = rubric.example_context
    scored = f"Each dimension is scored from {rubric.scale_min} to {rubric.scale_max}."
    if ctx is None:
        out.append(scored)
    else:
        out += [
            f"{scored} The example tips were all written for the same user:",
            "",
            f"- **Who:** {ctx.persona}",
            f"- **When:** {ctx.time_slot}",
            "- **Tasks:**",
            *[f"  - {task}" for task in ctx.tasks],
        ]
    for dim in rubric.dimensions:
        out += ["", f"## {dim.name} (`{dim.id}`)", "", dim.question, ""]
        out += ["| Score | Anchor | Example tip |", "| --- | --- | --- |"]
        out += [f"| {lv.score} | {_cell(lv.anchor)} | {_cell(lv.example)} |" for lv in dim.levels]
    for flag in rubric.flags:
        out += ["", f"## {flag.name} (`{flag.id}`)", "", flag.meaning()]
        if flag.format is not None:
            out += ["", *_format_lines(flag, flag.format)]
    out += [
        "",
        "## Composite",
        "",
        rubric.composite_description,
        "",
        "| Part | Weight |",
        "| --- | --- |",
        *[f"| `{k}` | {v:g} |" for k, v in w.items()],
        "",
        "composite = "
        + " ".join(f"{'+' if v >= 0 else '−'} {abs(v):g}·{k}" for k, v in w.items()).lstrip("+ ")
        + f", from {low:g} to {high:g}.",
        "",
    ]
    return "\n".join(out)


def write_rubric_markdown(rubric: Rubric, path: Path = RUBRIC_PAGE) -> Path:
    path.write_text(render_rubric_markdown(rubric), encoding="utf-8")
    return path


if __name__ == "__main__":
    version = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_RUBRIC
    print(write_rubric_markdown(load_rubric(version)))
