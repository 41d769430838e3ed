"""The scoring rubric: dimensions with anchored levels, automatic checks, and the composite score.

Everything a score depends on lives in the rubric file (``rubric/<version>.toml`` in the data
directories, see :mod:`tipbench_lib.core.paths`): the
anchors judges read, the regexes and limits of the automatic checks, and the composite's weights.
Changing how tips are scored therefore means editing one versioned file, never code, and the human
page ``data/rubric.md`` is generated from the same file so the two cannot disagree.
"""

from __future__ import annotations

import numbers
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipbench_lib.core.datafile import Table, read_toml
from tipbench_lib.core.errors import JudgingError, TipbenchError
from tipbench_lib.core.paths import SHIPPED_DATA, data_files

RUBRIC_FOLDER = "rubric"
RUBRIC_PAGE = SHIPPED_DATA / "rubric.md"
"""The human page of the shipped default rubric (``python -m tipbench_lib.core.rubric``)."""
DEFAULT_RUBRIC = "tip-v1"
FLAGS: tuple[str, ...] = ("format_ok", "overlong")
"""The yes/no parts of a judgment, beside the scored dimensions."""
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
    """A 1-5 scored aspect of a tip (relevance, actionability, tone)."""

    id: str
    name: str
    question: str
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class BannedPattern:
    """A regex whose match makes a tip ill-formed, with the reason shown to judges."""

    pattern: re.Pattern[str]
    reason: str


@dataclass(frozen=True)
class FormatExample:
    """A tip with the format verdict the automatic check must give it."""

    text: str
    format_ok: bool


@dataclass(frozen=True)
class FormatRule:
    """What a well-formed tip is, and the parameters of its automatic check."""

    description: str
    min_sentences: int
    max_sentences: int
    sentence_split: re.Pattern[str]
    banned_prefixes: tuple[str, ...]
    banned_patterns: tuple[BannedPattern, ...]
    examples: tuple[FormatExample, ...]


@dataclass(frozen=True)
class ExampleContext:
    """The user every level example was written for, so examples can be compared."""

    persona: str
    time_slot: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class AutoChecks:
    """The automatic verdicts on a tip; ``reasons`` says why either flag is set."""

    format_ok: bool
    overlong: bool
    char_count: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    """A versioned rubric, loaded and validated from its TOML file."""

    version: str
    title: str
    summary: str
    scale_min: int
    scale_max: int
    example_context: ExampleContext
    dimensions: tuple[Dimension, ...]
    format_rule: FormatRule
    overlong_description: str
    max_chars: int
    composite_description: str
    weights: dict[str, float]
    path: Path

    @property
    def dimension_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.dimensions)

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(range(self.scale_min, self.scale_max + 1))

    def dimension(self, dimension_id: str) -> Dimension:
        for dim in self.dimensions:
            if dim.id == dimension_id:
                return dim
        raise JudgingError(
            f"rubric {self.version} has no dimension {dimension_id!r}; "
            f"its dimensions are {', '.join(self.dimension_ids)}"
        )

    # --- automatic checks --------------------------------------------------------------------

    def auto_checks(self, text: str) -> AutoChecks:
        """Format and length verdicts from the rubric's own parameters, with reasons."""
        format_reasons = self.format_problems(text)
        reasons = list(format_reasons)
        overlong = len(text) > self.max_chars
        if overlong:
            reasons.append(f"overlong: {len(text)} characters, more than {self.max_chars}")
        return AutoChecks(
            format_ok=not format_reasons,
            overlong=overlong,
            char_count=len(text),
            reasons=tuple(reasons),
        )

    def format_problems(self, text: str) -> list[str]:
        """Every way ``text`` breaks the format rule (empty when it is well-formed)."""
        rule = self.format_rule
        problems = []
        n = count_sentences(text, rule.sentence_split)
        if not rule.min_sentences <= n <= rule.max_sentences:
            problems.append(f"{n} sentences; expected {rule.min_sentences} to {rule.max_sentences}")
        prefix = banned_prefix(text, rule.banned_prefixes)
        if prefix is not None:
            problems.append(f"starts with the preamble {prefix!r}")
        problems.extend(b.reason for b in rule.banned_patterns if b.pattern.search(text))
        return problems

    # --- the composite -----------------------------------------------------------------------

    def composite(
        self, relevance: int, actionability: int, tone: int, format_ok: bool, overlong: bool
    ) -> float:
        """The weighted sum the rubric file defines, after checking every input's range."""
        return self.composite_of(
            {
                "relevance": relevance,
                "actionability": actionability,
                "tone": tone,
                "format_ok": format_ok,
                "overlong": overlong,
            }
        )

    def composite_of(self, scores: dict[str, Any]) -> float:
        """``composite`` for a mapping of every dimension and flag (for any rubric version)."""
        missing = [k for k in (*self.dimension_ids, *FLAGS) if k not in scores]
        if missing:
            raise JudgingError(
                f"missing score(s) {', '.join(missing)} for rubric {self.version}; "
                f"expected {', '.join((*self.dimension_ids, *FLAGS))}"
            )
        for dim in self.dimension_ids:
            self.check_score(dim, scores[dim])
        for flag in FLAGS:
            check_flag(flag, scores[flag])
        return float(sum(self.weights[k] * int(scores[k]) for k in (*self.dimension_ids, *FLAGS)))

    def check_score(self, dimension: str, value: Any) -> int:
        """A dimension's score must be a whole number on the scale (bools are not scores)."""
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok or not self.scale_min <= value <= self.scale_max:
            raise JudgingError(
                f"{dimension} must be an integer from {self.scale_min} to {self.scale_max} "
                f"(rubric {self.version}), got {value!r}"
            )
        return int(value)

    @property
    def composite_range(self) -> tuple[float, float]:
        """The lowest and highest composite the weights allow (2 and 17 for tip-v1)."""
        low = high = 0.0
        for dim in self.dimension_ids:
            ends = (self.weights[dim] * self.scale_min, self.weights[dim] * self.scale_max)
            low, high = low + min(ends), high + max(ends)
        for flag in FLAGS:
            low, high = low + min(0.0, self.weights[flag]), high + max(0.0, self.weights[flag])
        return low, high

    # --- for the LLM judge -------------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of a judgment's scores, for constrained LLM output.

        Scores are an ``enum`` rather than ``minimum``/``maximum`` because every grammar
        converter (Ollama's ``format``, llama.cpp's) supports enums.
        """
        properties: dict[str, Any] = {
            dim.id: {"type": "integer", "enum": list(self.scores), "description": dim.question}
            for dim in self.dimensions
        }
        properties["format_ok"] = {"type": "boolean", "description": self.format_rule.description}
        properties["overlong"] = {
            "type": "boolean",
            "description": f"true when the tip has more than {self.max_chars} characters",
        }
        return {
            "title": f"{self.version} judgment",
            "type": "object",
            "properties": properties,
            "required": [*self.dimension_ids, *FLAGS],
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
        rule = self.format_rule
        lines += [
            "",
            f"format_ok (true or false): {rule.description}",
            f"overlong (true or false): true when the tip has more than {self.max_chars} "
            "characters.",
        ]
        return "\n".join(lines)


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


def check_flag(name: str, value: Any) -> bool:
    if type(value).__name__ not in ("bool", "bool_"):
        raise JudgingError(f"{name} must be true or false, got {value!r}")
    return bool(value)


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


def _dimension(table: Table, scale: range) -> Dimension:
    table.only("id", "name", "question", "levels")
    return Dimension(
        id=table.identifier("id"),
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
        "description",
        "min_sentences",
        "max_sentences",
        "sentence_split",
        "banned_prefixes",
        "banned_patterns",
        "examples",
    )
    banned = []
    for t in table.tables("banned_patterns", min_len=0):
        t.only("pattern", "reason")
        banned.append(BannedPattern(_regex(t, "pattern"), t.text("reason")))
    examples = []
    for t in table.tables("examples", min_len=0) if "examples" in table.data else []:
        t.only("text", "format_ok")
        examples.append(FormatExample(t.get("text", str), t.get("format_ok", bool)))
    min_sentences = table.integer("min_sentences", minimum=0)
    return FormatRule(
        description=table.text("description"),
        min_sentences=min_sentences,
        max_sentences=table.integer("max_sentences", minimum=max(1, min_sentences)),
        sentence_split=_regex(table, "sentence_split"),
        banned_prefixes=table.strings("banned_prefixes"),
        banned_patterns=tuple(banned),
        examples=tuple(examples),
    )


def _weights(table: Table, dimension_ids: tuple[str, ...]) -> dict[str, float]:
    expected = (*dimension_ids, *FLAGS)
    table.only(*expected)
    weights = {}
    for key in expected:
        value = table.get(key, numbers.Real, optional=False)
        if isinstance(value, bool):
            raise table.fail(key, f"expected a number, got {value!r}")
        weights[key] = float(value)
    return weights


def load_rubric_file(path: Path) -> Rubric:
    """A rubric file, validated; its ``version`` must match the file name."""
    path = Path(path)
    root = Table(read_toml(path), path)
    root.only(
        "version",
        "title",
        "summary",
        "scale",
        "example_context",
        "dimensions",
        "format_ok",
        "overlong",
        "composite",
    )
    version = root.text("version")
    if version != path.stem:
        raise root.fail("version", f"is {version!r}; expected {path.stem!r} to match the file name")
    scale_t = root.table("scale")
    scale_t.only("min", "max")
    low = scale_t.integer("min")
    high = scale_t.integer("max", minimum=low + 1)
    scale = range(low, high + 1)
    dim_tables = root.tables("dimensions")
    dimensions = tuple(_dimension(t, scale) for t in dim_tables)
    ids = tuple(d.id for d in dimensions)
    for t, ident in zip(dim_tables, ids, strict=True):
        if ident in FLAGS or ids.count(ident) > 1:
            raise t.fail("id", f"{ident!r} is used twice or names a flag; expected a unique id")
    ctx = root.table("example_context")
    ctx.only("persona", "time_slot", "tasks")
    overlong = root.table("overlong")
    overlong.only("description", "max_chars")
    composite = root.table("composite")
    composite.only("description", "weights")
    return Rubric(
        version=version,
        title=root.text("title"),
        summary=root.text("summary"),
        scale_min=low,
        scale_max=high,
        example_context=ExampleContext(
            ctx.text("persona"), ctx.text("time_slot"), ctx.strings("tasks")
        ),
        dimensions=dimensions,
        format_rule=_format_rule(root.table("format_ok")),
        overlong_description=overlong.text("description"),
        max_chars=overlong.integer("max_chars", minimum=1),
        composite_description=composite.text("description"),
        weights=_weights(composite.table("weights"), ids),
        path=path,
    )


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


# --- The human page --------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A code span that survives backticks in the text (regexes contain them)."""
    return "`` " + text.replace("\n", "\\n") + " ``"


def render_rubric_markdown(rubric: Rubric) -> str:
    """The human page for a rubric, generated so it can never drift from the file."""
    rule = rubric.format_rule
    w = rubric.weights
    low, high = rubric.composite_range
    ctx = rubric.example_context
    out = [
        f"# Rubric {rubric.version}: {rubric.title}",
        "",
        f"<!-- Generated from {rubric.path.parent.name}/{rubric.path.name} by "
        "`python -m tipbench_lib.core.rubric`; edit the TOML file, not this page. -->",
        "",
        rubric.summary,
        "",
        f"Each dimension is scored from {rubric.scale_min} to {rubric.scale_max}. "
        "The example tips were all written for the same user:",
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
    out += [
        "",
        "## Well-formed (`format_ok`)",
        "",
        rule.description,
        "",
        "The automatic check, which pre-fills `format_ok` on judging cards:",
        "",
        f"- between {rule.min_sentences} and {rule.max_sentences} sentences, where sentences "
        f"are what remains after splitting at {_code(rule.sentence_split.pattern)};",
        "- does not start with any of these words (case-insensitive, whole words): "
        + ", ".join(f'"{p}"' for p in rule.banned_prefixes)
        + ";",
        "- contains nothing matching these patterns:",
        "",
        *[f"  - {_code(b.pattern.pattern)}: {b.reason}" for b in rule.banned_patterns],
    ]
    if rule.examples:
        out += ["", "| Tip | format_ok |", "| --- | --- |"]
        out += [
            f"| {_cell(_code(e.text))} | {'yes' if e.format_ok else 'no'} |" for e in rule.examples
        ]
    out += [
        "",
        "## Overlong (`overlong`)",
        "",
        f"{rubric.overlong_description} A tip is overlong when it has more than "
        f"{rubric.max_chars} characters.",
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
