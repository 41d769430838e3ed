"""The experiment model: cells, candidates and judgments as typed records, with a format version.

One model, several recorders. The collect and judge journals (JSON lines), MLflow (the artifacts
and params of :mod:`tipbench_lib.tracking.mapping`) and the parquet snapshot
(:mod:`tipbench_lib.compare.load`) all store these records; this module is the one place that turns
a record into its JSON form and back (``to_json`` / ``from_json``), so a field is named, typed and
defaulted once. The shape follows MLflow's GenAI assessments and Inspect's ``EvalLog``: a judgment
carries its source (:class:`JudgeSource`, after MLflow's ``AssessmentSource``: who or what judged)
and the rubric it was made under (:class:`RubricRef`); every record written carries
:data:`FORMAT_VERSION` so a reader knows what it reads.

Format versions:

1. records written before the field existed: every score is tip-v1's and a judgment names its
   rubric by version only;
2. scores are the dimensions and flags of the experiment's recorded rubric, and a judgment names
   the rubric by name, version and content hash.

The JSON form is flat (``{"relevance": 4, "format_ok": true, ...}`` beside ``judge_id``): it is
what outside tools write, what the journals of format 1 hold, and a rubric's ids can never take a
key of the record's own (:data:`tipbench_lib.core.schema.RESERVED_SCORE_IDS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.schema import AUTO_SUFFIX, JUDGE_KINDS, auto_column

FORMAT_VERSION = 2
"""The format every record written now carries (see the module docstring)."""
LEGACY_FORMAT = 1
"""What a record without a ``format`` field is."""
WEAK_JUDGE_PARAMETERS = 1_000_000_000
"""An LLM judge below a billion parameters (the embedded ones) is a smoke test, not a verdict."""


def format_of(record: Mapping[str, Any]) -> int:
    """The format a JSON record was written in (:data:`LEGACY_FORMAT` when it does not say)."""
    value = record.get("format", LEGACY_FORMAT)
    return value if isinstance(value, int) and not isinstance(value, bool) else LEGACY_FORMAT


def now_iso() -> str:
    """The time a record is written, as the journals store it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def parse_time(value: Any) -> datetime:
    """A record's time: journals carry ISO strings, frames datetimes; a missing one sorts first.

    A time without a zone is read as UTC: it only orders one judge's revisions of one tip.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


# -- the rubric and the judge ---------------------------------------------------------------------


@dataclass(frozen=True)
class RubricRef:
    """Which rubric scores were given under: enough to find it and to notice an edited copy."""

    name: str
    version: str
    content_hash: str = ""
    """Empty for a format-1 record, which named its rubric by version only."""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "content_hash": self.content_hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RubricRef:
        version = str(data.get("version") or data.get("name") or "")
        return cls(str(data.get("name") or version), version, str(data.get("content_hash") or ""))


@dataclass(frozen=True)
class JudgeSource:
    """Who or what judged (after MLflow's ``AssessmentSource``): a person, an LLM, an import.

    ``model``, ``digest`` and ``parameter_count`` describe an LLM judge's model; empty otherwise.
    """

    kind: str
    id: str
    model: str = ""
    digest: str = ""
    parameter_count: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in JUDGE_KINDS:
            raise JudgingError(f"judge kind {self.kind!r} is not one of {', '.join(JUDGE_KINDS)}")

    @property
    def is_weak(self) -> bool:
        """An LLM judge small enough that its scores must be labelled weak."""
        return (
            self.kind == "llm"
            and self.parameter_count is not None
            and self.parameter_count < WEAK_JUDGE_PARAMETERS
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"judge_id": self.id, "judge_kind": self.kind}
        if self.kind == "llm":
            out |= {
                "model": self.model,
                "digest": self.digest,
                "parameter_count": self.parameter_count,
            }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JudgeSource:
        return cls(
            kind=str(data.get("judge_kind") or "human"),
            id=str(data["judge_id"]),
            model=str(data.get("model") or ""),
            digest=str(data.get("digest") or ""),
            parameter_count=_int_or_none(data.get("parameter_count")),
        )


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- cells ----------------------------------------------------------------------------------------

CELL_KEYS = ("model", "prompt_version", "scenario_id", "persona", "time_slot")
"""Which cell a run is (the MLflow params the compare phase's cells frame is built from)."""


@dataclass(frozen=True)
class CellProvenance:
    """How a cell was made: the MLflow params beside those that say which cell it is."""

    model_digest: str = ""
    quantization: str = ""
    parameter_count: int | None = None
    backend: str = ""
    backend_version: str = ""
    prompt_hash: str = ""
    options: str = ""
    seed: int | None = None
    rubric_version: str = ""


PROVENANCE_PARAMS: tuple[str, ...] = tuple(CellProvenance.__dataclass_fields__)
"""The provenance params, in their order (``parameter_count`` and ``seed`` as text in MLflow)."""


@dataclass(frozen=True)
class Cell:
    """One (model, prompt version, scenario): which cell it is, and how it was made."""

    cell_id: str
    model: str
    prompt_version: str
    scenario_id: str
    persona: str
    time_slot: str
    provenance: CellProvenance = field(default_factory=CellProvenance)

    @classmethod
    def from_params(cls, cell_id: str, params: Mapping[str, str]) -> Cell:
        """A cell from its MLflow params; a run made before a param existed lacks it (empty)."""
        given = {k: params.get(k, "") for k in PROVENANCE_PARAMS}
        given["parameter_count"] = _int_or_none(given["parameter_count"])
        given["seed"] = _int_or_none(given["seed"])
        return cls(cell_id, *(str(params.get(k, "")) for k in CELL_KEYS), CellProvenance(**given))

    def row(self) -> dict[str, Any]:
        """The cells frame's row (provenance as MLflow params hold it, as text)."""
        prov = {
            k: ("" if v is None else str(v))
            for k, v in ((k, getattr(self.provenance, k)) for k in PROVENANCE_PARAMS)
        }
        return {"cell_id": self.cell_id, **{k: getattr(self, k) for k in CELL_KEYS}, **prov}


@dataclass(frozen=True)
class CellRecord:
    """A cell as the collect journal keeps it: enough to log it to MLflow from a later run."""

    cell_id: str
    run_name: str
    n_tips: int
    prompt_text: str
    params: dict[str, str]

    @property
    def cell(self) -> Cell:
        return Cell.from_params(self.cell_id, self.params)

    def to_json(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "run_name": self.run_name,
            "n_tips": self.n_tips,
            "prompt_text": self.prompt_text,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellRecord:
        return cls(
            cell_id=data["cell_id"],
            run_name=data["run_name"],
            n_tips=int(data["n_tips"]),
            prompt_text=data["prompt_text"],
            params={str(k): str(v) for k, v in data["params"].items()},
        )


# -- candidates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One generated tip with how it was made and the rubric's automatic verdicts on it.

    The id hashes the cell, index and text, so a regenerated candidate can never inherit a
    judgment meant for other text.
    """

    candidate_id: str
    cell_id: str
    sample_index: int
    text: str
    latency_s: float
    eval_tokens: int
    tokens_per_s: float
    auto: dict[str, bool] = field(default_factory=dict)
    """flag id → the automatic check's verdict, for the flags of the rubric that have one."""
    auto_reasons: tuple[str, ...] = ()
    char_count: int | None = None
    raw: str = ""
    seed: int | None = None
    load_s: float = 0.0
    prompt_tokens: int = 0
    done_reason: str = ""
    truncated: bool = False
    created_at: str = ""
    regenerations: int = 0
    """Tries generated and rejected as near repeats before this one was kept (``--diversity``,
    :mod:`tipbench_lib.collect.diversity`); 0 without it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "cell_id": self.cell_id,
            "sample_index": self.sample_index,
            "text": self.text,
            "raw": self.raw,
            "seed": self.seed,
            "latency_s": self.latency_s,
            "load_s": self.load_s,
            "prompt_tokens": self.prompt_tokens,
            "eval_tokens": self.eval_tokens,
            "tokens_per_s": self.tokens_per_s,
            "done_reason": self.done_reason,
            "truncated": self.truncated,
            **{auto_column(flag): value for flag, value in self.auto.items()},
            "char_count": self.char_count,
            "auto_reasons": list(self.auto_reasons),
            "created_at": self.created_at,
            "regenerations": self.regenerations,
            "format": FORMAT_VERSION,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], cell_id: str | None = None) -> Candidate:
        """A candidate of any format; ``cell_id`` for the oldest artifacts, which lacked it."""
        auto = {
            key[: -len(AUTO_SUFFIX)]: bool(value)
            for key, value in data.items()
            if key.endswith(AUTO_SUFFIX) and value is not None
        }
        return cls(
            candidate_id=str(data["candidate_id"]),
            cell_id=str(data.get("cell_id") or cell_id or ""),
            sample_index=int(data["sample_index"]),
            text=str(data.get("text") or ""),
            latency_s=float(data.get("latency_s") or 0.0),
            eval_tokens=int(data.get("eval_tokens") or 0),
            tokens_per_s=float(data.get("tokens_per_s") or 0.0),
            auto=auto,
            auto_reasons=tuple(data.get("auto_reasons") or ()),
            char_count=_int_or_none(data.get("char_count")),
            raw=str(data.get("raw") or ""),
            seed=_int_or_none(data.get("seed")),
            load_s=float(data.get("load_s") or 0.0),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            done_reason=str(data.get("done_reason") or ""),
            truncated=bool(data.get("truncated")),
            created_at=str(data.get("created_at") or ""),
            regenerations=int(data.get("regenerations") or 0),
        )


# -- judgments ------------------------------------------------------------------------------------

OK = "ok"
FAILED = "failed"


class Verdict:
    """What a judgment of scores and a pairwise judgment share: who judged, under which rubric,
    the note, status (a failed LLM call is kept, never counted), attempts and time, in one JSON
    form. A mixin for the two frozen dataclasses, which declare the fields."""

    source: JudgeSource
    rubric: RubricRef
    note: str
    status: str
    error: str
    attempts: int | None
    created_at: str

    @property
    def ok(self) -> bool:
        """Whether it counts: a failed LLM judgment is kept, but never counted."""
        return self.status == OK

    @property
    def judge_id(self) -> str:
        return self.source.id

    @property
    def time(self) -> datetime:
        return parse_time(self.created_at)

    def judged_by_json(self) -> dict[str, Any]:
        """The judge and the rubric, as the flat JSON form names them."""
        return {
            **self.source.to_json(),
            "rubric_name": self.rubric.name,
            "rubric_version": self.rubric.version,
            "rubric_hash": self.rubric.content_hash,
        }

    def outcome_json(self) -> dict[str, Any]:
        """The note, status, error, attempts (when known) and time."""
        return {
            "note": self.note,
            "status": self.status,
            "error": self.error,
            **({"attempts": self.attempts} if self.attempts is not None else {}),
            "created_at": self.created_at,
        }


def verdict_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of :class:`Verdict` (and ``format``) read from a record of any format."""
    version = str(data.get("rubric_version") or "")
    return {
        "source": JudgeSource.from_json(data),
        "rubric": RubricRef(
            str(data.get("rubric_name") or version), version, str(data.get("rubric_hash") or "")
        ),
        "note": str(data.get("note") or ""),
        "status": str(data.get("status") or OK),
        "error": str(data.get("error") or ""),
        "attempts": _int_or_none(data.get("attempts")),
        "created_at": str(data.get("created_at") or ""),
        "format": format_of(data),
    }


@dataclass(frozen=True)
class Judgment(Verdict):
    """One judge's scores for one candidate under one rubric; or a failed attempt (no scores).

    ``scores`` holds every dimension (an integer on the rubric's scale) and every flag (true or
    false) of the rubric, by id; it is empty for a failed judgment, which is kept but never
    counted.
    """

    candidate_id: str
    cell_id: str
    source: JudgeSource
    rubric: RubricRef
    scores: dict[str, int | bool]
    composite: float | None
    note: str = ""
    status: str = OK
    error: str = ""
    attempts: int | None = None
    created_at: str = ""
    format: int = FORMAT_VERSION

    @property
    def key(self) -> tuple[str, str]:
        """(candidate, judge): one judgment per key counts (see :mod:`.judgments`)."""
        return (self.candidate_id, self.source.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "judgment",
            "format": self.format,
            "candidate_id": self.candidate_id,
            "cell_id": self.cell_id,
            **self.judged_by_json(),
            **self.scores,
            "composite": self.composite,
            **self.outcome_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], parts: Sequence[str]) -> Judgment:
        """A judgment of any format; ``parts`` are the score ids of the experiment's rubric.

        Keys that are no part of the rubric are left out (an outside tool's extras); a part
        without a value (a failed judgment's nulls) is no score.
        """
        composite = data.get("composite")
        return cls(
            candidate_id=str(data["candidate_id"]),
            cell_id=str(data.get("cell_id") or ""),
            scores={p: data[p] for p in parts if data.get(p) is not None},
            composite=None if composite is None else float(composite),
            **verdict_fields(data),
        )

    def row(self, parts: Sequence[str]) -> dict[str, Any]:
        """The judgments frame's row (a part without a score is null)."""
        return {
            "candidate_id": self.candidate_id,
            "judge_id": self.source.id,
            "judge_kind": self.source.kind,
            "rubric_version": self.rubric.version,
            **{p: self.scores.get(p) for p in parts},
            "composite": self.composite,
            "created_at": self.time if self.created_at else None,
            "note": self.note,
            "judge_model": self.source.model,
            "rubric_hash": self.rubric.content_hash,
        }


# -- pairwise judgments ---------------------------------------------------------------------------

PAIR_ANSWERS: tuple[str, ...] = ("a", "b", "tie")
"""A pairwise answer in the pair's own terms: side A better, side B better, or a tie."""
PAIR_SIDES: tuple[str, ...] = ("a", "b")
PAIR_QUESTION = "overall"
"""The one question pairs answer today: which tip serves the person better on the whole rubric."""


def pair_id(candidate_a: str, candidate_b: str) -> str:
    """The id of two candidates judged side by side, whatever order they are given in."""
    first, second = sorted((candidate_a, candidate_b))
    return content_hash({"pair": [first, second]})


@dataclass(frozen=True)
class PairJudgment(Verdict):
    """One judge's choice between two tips of one scenario from two cells; or a failed attempt.

    The pair is kept in one canonical order, A the candidate of the smaller ``cell_id`` (then the
    smaller candidate id), so a judge's revisions and other judges' answers of the same two tips
    share one key whatever side each was shown on. ``answer`` is what counts ("a", "b" or "tie";
    empty for a failed judgment, which is kept but never counted). ``order_answers`` keeps each
    showing: the side shown on the left ("a" or "b") → the answer given in the pair's terms. A
    person's card is one showing; the LLM judge shows both orders and its ``answer`` is a win only
    when both agree, otherwise a tie. Position bias is read from ``order_answers``.
    """

    candidate_a: str
    candidate_b: str
    cell_a: str
    cell_b: str
    scenario_id: str
    source: JudgeSource
    rubric: RubricRef
    answer: str
    order_answers: dict[str, str]
    question: str = PAIR_QUESTION
    note: str = ""
    status: str = OK
    error: str = ""
    attempts: int | None = None
    created_at: str = ""
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = []
        if self.cell_a == self.cell_b:
            problems.append("both tips come from the same cell")
        if (self.cell_a, self.candidate_a) > (self.cell_b, self.candidate_b):
            problems.append("side A must be the candidate of the smaller cell id")
        if self.status == OK and self.answer not in PAIR_ANSWERS:
            problems.append(f"answer {self.answer!r} is not one of {', '.join(PAIR_ANSWERS)}")
        if self.status == OK and not self.order_answers:
            problems.append("no showing is recorded (order_answers is empty)")
        for side, answer in self.order_answers.items():
            if side not in PAIR_SIDES or answer not in PAIR_ANSWERS:
                problems.append(f"showing {side!r} → {answer!r} is not a side and an answer")
        if problems:
            raise JudgingError(f"pairwise judgment of {self.pair_id}: {'; '.join(problems)}")

    @classmethod
    def shown(
        cls,
        left: tuple[str, str],
        right: tuple[str, str],
        choice: str,
        **fields: Any,
    ) -> PairJudgment:
        """A judgment from one showing: ``left``/``right`` are (candidate id, cell id) as shown,
        ``choice`` "left", "right" or "tie" as the judge answered."""
        if choice not in ("left", "right", "tie"):
            raise JudgingError(f"choice {choice!r} is not left, right or tie")
        (a, cell_a), (b, cell_b) = sorted((left, right), key=lambda s: (s[1], s[0]))
        left_side = "a" if left == (a, cell_a) else "b"
        right_side = "b" if left_side == "a" else "a"
        answer = {"left": left_side, "right": right_side, "tie": "tie"}[choice]
        return cls(a, b, cell_a, cell_b, answer=answer, order_answers={left_side: answer}, **fields)

    @property
    def pair_id(self) -> str:
        return pair_id(self.candidate_a, self.candidate_b)

    @property
    def key(self) -> tuple[str, str]:
        """(pair, judge): the latest judgment per key counts, as for scores."""
        return (self.pair_id, self.source.id)

    @property
    def left_choices(self) -> int:
        """Showings whose answer was the side shown on the left (for position bias)."""
        return sum(1 for side, answer in self.order_answers.items() if answer == side)

    @property
    def right_choices(self) -> int:
        return sum(1 for side, answer in self.order_answers.items() if answer not in (side, "tie"))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "pair",
            "format": self.format,
            "pair_id": self.pair_id,
            "candidate_a": self.candidate_a,
            "candidate_b": self.candidate_b,
            "cell_a": self.cell_a,
            "cell_b": self.cell_b,
            "scenario_id": self.scenario_id,
            **self.judged_by_json(),
            "question": self.question,
            "answer": self.answer,
            "order_answers": dict(self.order_answers),
            **self.outcome_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairJudgment:
        """A pairwise judgment as written by :meth:`to_json`; ``pair_id`` is recomputed, never
        read, so a record cannot claim another pair's key."""
        order = data.get("order_answers") or {}
        if not isinstance(order, Mapping):
            raise JudgingError("order_answers must be an object of side → answer")
        return cls(
            candidate_a=str(data["candidate_a"]),
            candidate_b=str(data["candidate_b"]),
            cell_a=str(data["cell_a"]),
            cell_b=str(data["cell_b"]),
            scenario_id=str(data["scenario_id"]),
            answer=str(data.get("answer") or ""),
            order_answers={str(k): str(v) for k, v in order.items()},
            question=str(data.get("question") or PAIR_QUESTION),
            **verdict_fields(data),
        )

    def row(self) -> dict[str, Any]:
        """The pairs frame's row (:data:`tipbench_lib.core.schema.PAIRS`)."""
        return {
            "pair_id": self.pair_id,
            "scenario_id": self.scenario_id,
            "candidate_a": self.candidate_a,
            "candidate_b": self.candidate_b,
            "cell_a": self.cell_a,
            "cell_b": self.cell_b,
            "judge_id": self.source.id,
            "judge_kind": self.source.kind,
            "judge_model": self.source.model,
            "rubric_version": self.rubric.version,
            "rubric_hash": self.rubric.content_hash,
            "question": self.question,
            "answer": self.answer,
            "n_showings": len(self.order_answers),
            "n_left": self.left_choices,
            "n_right": self.right_choices,
            "created_at": self.time if self.created_at else None,
            "note": self.note,
        }
