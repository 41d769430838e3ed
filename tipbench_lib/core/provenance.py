"""Where an experiment's data came from: models, prompts, rubric, judges, dates, typed.

The provenance travels as JSON (a snapshot's ``provenance.json``, the report's provenance
section), and a snapshot from another tool may hold any part of it or none. :meth:`Provenance.
from_dict` is the one place that reads that JSON with its defaults; everything else reads the
typed fields, and :meth:`Provenance.to_dict` writes it back with unknown entries kept as they
were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tipbench_lib.core.records import WEAK_JUDGE_PARAMETERS, JudgeSource, RubricRef


@dataclass(frozen=True)
class ModelEntry:
    """A collected model: what the cells' params say about it."""

    model: str
    model_digest: str = ""
    quantization: str = ""
    parameter_count: int | None = None
    backend: str = ""


@dataclass(frozen=True)
class JudgeEntry:
    """A judge as the loaded judgments describe it: its scores (``ok``, ``failed``: the latest
    per tip) and its pairwise judgments (``pairs``, ``pairs_failed``: the latest per pair of
    tips; docs/architecture.md, section 13), so a judge of pairs only is listed too."""

    kind: str = ""
    model: str = ""
    weak: bool = False
    parameter_count: int | None = None
    ok: int = 0
    failed: int = 0
    pairs: int = 0
    pairs_failed: int = 0

    @classmethod
    def of(cls, source: JudgeSource) -> JudgeEntry:
        """A judge with nothing counted yet, described by its source."""
        return cls(source.kind, source.model, source.is_weak, source.parameter_count)


@dataclass
class Provenance:
    """Who and what produced an experiment's data."""

    experiment: str = ""
    source: str = ""
    models: dict[str, ModelEntry] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    rubric: RubricRef | None = None
    rubric_note: str = ""
    judges: dict[str, JudgeEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Every other entry (counts, dates, a snapshot's own keys), kept as it was."""

    def model_size(self, model: str) -> int | None:
        entry = self.models.get(model)
        return entry.parameter_count if entry else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"experiment": self.experiment, "source": self.source}
        out["models"] = {k: asdict(v) for k, v in self.models.items()}
        out["prompts"] = dict(self.prompts)
        if self.rubric is not None:
            out["rubric"] = self.rubric.to_json()
        if self.rubric_note:
            out["rubric_note"] = self.rubric_note
        out["judges"] = {k: asdict(v) for k, v in self.judges.items()}
        out |= self.extra
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Provenance:
        """Any provenance JSON, tipbench's or another tool's; what it lacks stays empty."""
        data = dict(data or {})
        known = {"experiment", "source", "models", "prompts", "rubric", "rubric_note", "judges"}
        rubric = data.get("rubric")
        return cls(
            experiment=str(data.get("experiment") or ""),
            source=str(data.get("source") or ""),
            models=_models(data.get("models")),
            prompts={str(k): str(v) for k, v in _mapping(data.get("prompts")).items()},
            rubric=RubricRef.from_json(rubric) if isinstance(rubric, Mapping) else None,
            rubric_note=str(data.get("rubric_note") or ""),
            judges=_judges(data.get("judges")),
            warnings=[str(w) for w in data.get("warnings") or []],
            extra={k: v for k, v in data.items() if k not in known and k != "warnings"},
        )


ENTRY_SHAPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "models": ("an object of model entries by name (each an object)", (Mapping,)),
    "prompts": ("an object of content hashes by prompt version (each a string)", (str,)),
    "judges": ("an object of judge entries by id (each an object)", (Mapping,)),
}
"""The provenance entries laid out as tables, and what each of their values must be. A list of
objects is read too (the shape of older files)."""


def shape_problem(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first entry of ``data`` (a provenance read from a file) that has no readable shape,
    as (key, what it must be); None when every entry can be read.

    Everything after reading (the report's provenance tables, the judges' descriptions) relies
    on these shapes, so a file that breaks them is refused on read, naming the key, instead of
    failing later inside the report.
    """
    for key, (expected, kinds) in ENTRY_SHAPES.items():
        value = data.get(key)
        if isinstance(value, Mapping):
            entries = [(repr(k), v) for k, v in value.items() if v is not None]
        elif isinstance(value, list):
            entries = [(str(i), v) for i, v in enumerate(value)]
            expected, kinds = expected + ", or a list of objects", (Mapping,)
        elif value is None:
            continue
        else:
            return key, f"is a JSON {_json_type(value)}; expected {expected}"
        wrong = [(name, v) for name, v in entries if not isinstance(v, kinds)]
        if wrong:
            name, v = wrong[0]
            return key, f"entry {name} is a JSON {_json_type(v)}; expected {expected}"
    if not isinstance(data.get("rubric", {}), Mapping | None):
        return "rubric", f"is a JSON {_json_type(data['rubric'])}; expected an object"
    return None


def _json_type(value: Any) -> str:
    """A value's type as JSON names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _models(value: Any) -> dict[str, ModelEntry]:
    out = {}
    for name, entry in _mapping(value).items():
        entry = _mapping(entry)
        out[str(name)] = ModelEntry(
            model=str(name),
            model_digest=str(entry.get("model_digest") or ""),
            quantization=str(entry.get("quantization") or ""),
            parameter_count=_count(entry.get("parameter_count")),
            backend=str(entry.get("backend") or ""),
        )
    return out


def _judges(value: Any) -> dict[str, JudgeEntry]:
    """Judges by id; a list of entries with a ``judge_id`` each is read too (older files)."""
    if isinstance(value, list):
        value = {
            str(j.get("judge_id", i)): j for i, j in enumerate(value) if isinstance(j, Mapping)
        }
    out = {}
    for judge, entry in _mapping(value).items():
        entry = _mapping(entry)
        size = _count(entry.get("parameter_count"))
        kind = str(entry.get("kind") or "")
        out[str(judge)] = JudgeEntry(
            kind=kind,
            model=str(entry.get("model") or ""),
            weak=bool(entry.get("weak"))
            or (kind == "llm" and size is not None and size < WEAK_JUDGE_PARAMETERS),
            parameter_count=size,
            ok=_count(entry.get("ok")) or 0,
            failed=_count(entry.get("failed")) or 0,
            pairs=_count(entry.get("pairs")) or 0,
            pairs_failed=_count(entry.get("pairs_failed")) or 0,
        )
    return out
