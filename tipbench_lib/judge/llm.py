"""An LLM as one more judge: the rubric in the prompt, the answer constrained to the scores' schema.

It goes through the same :class:`Backend` as generation, so the one-resident-model rule holds: the
backend's ``load`` frees every generation model before the judge's weights come in. The prompt and
the JSON schema are the experiment's rubric's (its dimensions, scale and flags). A small model can
still answer something that is not a valid score (a cut-off JSON object, a score off the rubric's
scale); that answer is retried and, if it stays invalid, recorded as a failed judgment with the
error — never turned into a made-up score, and never counted in any mean.

When the backend cannot go on (Ollama went away, or a model would not leave memory) the run stops
where it is, like a collect run: nothing is counted as failed, what was judged is journalled and
sent, and the summary says to run the same command again, which judges only what is left.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.backends.base import (
    BACKEND_STOPS,
    Backend,
    GenerationOptions,
    GenerationRequest,
    ModelInfo,
)
from tipbench_lib.core.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BackendError,
    BackendUnavailableError,
    GenerationError,
    JudgingError,
    ModelTooLargeError,
)
from tipbench_lib.core.records import Candidate, JudgeSource
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.scenarios import ScenarioView
from tipbench_lib.judge.session import JudgeSession, Scores, failed_record

DEFAULT_RETRIES = 2
JUDGE_OPTIONS = GenerationOptions(temperature=0.2, top_p=0.9, max_tokens=160, num_ctx=4096)


def llm_judge_id(model: str) -> str:
    return f"llm:{model}"


@dataclass(frozen=True)
class Verdict:
    """One candidate's outcome: scores, or the error of the last attempt."""

    scores: Scores | None
    error: str
    attempts: int


class RunStatus:
    """How an LLM judge's run ended, for the rubric and the pair judge alike: needs ``failed``,
    ``sync_error``, ``stopped`` (why the backend could not go on: the run was interrupted) and
    ``left`` (what the interruption left unjudged)."""

    failed: list[str]
    sync_error: str
    stopped: str
    left: int

    @property
    def complete(self) -> bool:
        return not self.failed and not self.sync_error and not self.stopped

    @property
    def exit_code(self) -> int:
        """3 when interrupted (a rerun resumes), 1 when judgments failed or are not in MLflow."""
        if self.stopped:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.complete else EXIT_FAILED

    def status_lines(self, things: str, findings: Sequence[str] = ()) -> list[str]:
        """The failures, ``findings`` (what the run measured), the stop and what MLflow lacks,
        each with what to do; ``things`` names what was judged ("candidate(s)", "pair(s)")."""
        lines = [f"  failed: {line}" for line in self.failed] + list(findings)
        if self.stopped:
            lines += [
                f"  STOPPED: {self.stopped}",
                f"  {self.left} {things} interrupted, none of them failed: fix the above, "
                "then run the same command again to judge them",
            ]
        if self.sync_error:
            lines.append(
                f"  MLflow has not got every judgment yet ({self.sync_error}); they are safe in "
                "the journal; run the same command again to send them"
            )
        return lines


@dataclass
class LlmJudgeSummary(RunStatus):
    model: str
    judge_id: str
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    sync_error: str = ""
    stopped: str = ""
    left: int = 0
    """Candidates not judged because the run was interrupted."""

    def lines(self) -> list[str]:
        head = f"LLM judge {self.judge_id}: {self.ok} scored, {len(self.failed)} failed"
        return [head, *self.status_lines("candidate(s)")]


# -- prompt ---------------------------------------------------------------------------------------


def judge_instructions(rubric: Rubric) -> str:
    """The system message: the rubric, and how to answer in its keys and range."""
    return (
        "You are a strict, fair judge of short tips that a productivity app shows its users. "
        "Score the tip with this rubric.\n\n"
        f"{rubric.prompt_text()}\n\n"
        f"{rubric.answer_rule()}"
    )


def judge_messages(rubric: Rubric, view: ScenarioView, tip: str) -> tuple[dict[str, str], ...]:
    """Chat form: the rubric as the system message, the case as the user message."""
    user = f"{view.as_text()}\n\nTip to judge (verbatim):\n<<<\n{tip}\n>>>\n\nYour JSON scores:"
    return (
        {"role": "system", "content": judge_instructions(rubric)},
        {"role": "user", "content": user},
    )


def judge_prompt(rubric: Rubric, view: ScenarioView, tip: str) -> str:
    """Raw-completion form for base models, ending where the JSON answer starts."""
    system, user = judge_messages(rubric, view, tip)
    return f"{system['content']}\n\n{user['content']}\n"


REASON_CHARS = 160
"""The judge's reason, asked after the scores and kept as the judgment's note (the compare
explorer shows it); short, so the answer stays within the judge's token budget, and never empty
(``minLength`` 1: smollm2-135m once closed it at once, a judgment without its why)."""


def with_reason(schema: dict[str, Any]) -> dict[str, Any]:
    """The rubric's schema plus a short ``reason``, last (parse_answer keeps it as the note)."""
    reason = {
        "type": "string",
        "minLength": 1,
        "maxLength": REASON_CHARS,
        "description": "one short sentence: why these scores",
    }
    return {
        **schema,
        "properties": {**schema["properties"], "reason": reason},
        "required": [*schema["required"], "reason"],
    }


def judge_request(
    info: ModelInfo,
    rubric: Rubric,
    view: ScenarioView,
    tip: str,
    seed: int,
    options: GenerationOptions,
) -> GenerationRequest:
    """The request for one tip; the rubric and the scenario are marked as the parts every tip of
    a cell shares, so the embedded backend evaluates them once per cell (the rubric once per run;
    docs/architecture.md, section 7)."""
    schema = with_reason(rubric.json_schema())
    marks = (judge_instructions(rubric), view.as_text())
    if info.is_base:
        prompt = judge_prompt(rubric, view, tip)
        return GenerationRequest(
            seed=seed, options=options, prompt=prompt, json_schema=schema, prefix_marks=marks
        )
    messages = judge_messages(rubric, view, tip)
    return GenerationRequest(
        seed=seed, options=options, messages=messages, json_schema=schema, prefix_marks=marks
    )


# -- answer ---------------------------------------------------------------------------------------


def parse_answer(text: str, candidate: Candidate, rubric: Rubric) -> Scores:
    """The scores in a model's answer; raises JudgingError naming what is wrong with it.

    A flag the answer leaves out falls back to the candidate's automatic check when the rubric
    has one for it (a schema may ask the model only for the dimensions). Whole floats (``4.0``)
    count as integers; everything else is checked by the rubric, as any judgment is.
    """
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JudgingError(f"the answer is not valid JSON ({exc.msg}): {text[:120]!r}") from exc
    if not isinstance(answer, dict):
        raise JudgingError(f"the answer is not a JSON object: {text[:120]!r}")
    values: dict[str, Any] = {}
    for name in rubric.dimension_ids:
        value = answer.get(name)
        values[name] = int(value) if isinstance(value, float) and value.is_integer() else value
    for name in rubric.flag_ids:
        if name in answer or name not in candidate.auto:
            values[name] = answer.get(name)
        else:
            values[name] = candidate.auto[name]
    note = answer.get("reason") or answer.get("note") or ""
    scores = Scores(values, note=str(note)[:500])
    problems = scores.problems(rubric)
    if problems:
        raise JudgingError("; ".join(problems))
    return scores


def judge_one(
    backend: Backend,
    info: ModelInfo,
    rubric: Rubric,
    view: ScenarioView,
    candidate: Candidate,
    *,
    retries: int,
    seed: int,
    options: GenerationOptions,
) -> Verdict:
    """Ask up to ``1 + retries`` times (new seed each time); the first valid answer wins."""
    error = ""
    for attempt in range(retries + 1):
        request = judge_request(info, rubric, view, candidate.text, seed + attempt, options)
        try:
            answer = backend.generate(info.name, request)
            return Verdict(parse_answer(answer.text, candidate, rubric), "", attempt + 1)
        except (JudgingError, GenerationError) as exc:
            error = str(exc)
    return Verdict(None, f"no valid answer after {retries + 1} attempt(s): {error}", retries + 1)


# -- the run --------------------------------------------------------------------------------------


@contextlib.contextmanager
def resident(backend: Backend, model: str, options: GenerationOptions) -> Iterator[None]:
    """The judge model loaded for the block and unloaded after it, also when the block fails,
    so it never stays in memory beside the next model (the one-resident-model rule, section
    7); not when the backend itself is gone: a restarted server holds nothing."""
    backend.load(model, options)
    try:
        yield
    except BackendUnavailableError:
        raise
    except BaseException:
        with contextlib.suppress(BackendError):
            backend.unload(model)
        raise
    backend.unload(model)


def check_model(backend: Backend, model: str, max_model_b: float) -> ModelInfo:
    """Describe the judge model and refuse one above the size limit before it is ever loaded."""
    info = backend.describe(model)
    problem = info.size_problem(max_model_b)
    if problem:
        raise ModelTooLargeError(problem)
    return info


def run_llm_judge(
    session: JudgeSession,
    backend: Backend,
    info: ModelInfo,
    *,
    retries: int = DEFAULT_RETRIES,
    options: GenerationOptions = JUDGE_OPTIONS,
    on_progress: Callable[[int, int], None] | None = None,
) -> LlmJudgeSummary:
    """Score every candidate the LLM judge has not scored yet, cell by cell.

    Each verdict is journalled as it comes; a cell's MLflow run is updated once its candidates are
    done, so an interrupted run keeps everything and the next one resumes with what is left.
    """
    summary = LlmJudgeSummary(info.name, session.judge_id)
    pending = sorted(session.queue(), key=lambda c: (session.candidates[c].cell_id, c))
    done = 0
    try:
        with resident(backend, info.name, options):
            for cid in pending:
                _judge_and_save(session, backend, info, cid, summary, retries, options)
                done += 1
                last_of_cell = done == len(pending) or (
                    session.candidates[pending[done]].cell_id != session.candidates[cid].cell_id
                )
                if last_of_cell:
                    summary.sync_error = session.sync_pending()
                if on_progress:
                    on_progress(done, len(pending))
    except BACKEND_STOPS as exc:
        summary.stopped = str(exc)
        summary.left = len(pending) - done
    summary.sync_error = session.sync_pending()
    return summary


def _judge_and_save(
    session: JudgeSession,
    backend: Backend,
    info: ModelInfo,
    cid: str,
    summary: LlmJudgeSummary,
    retries: int,
    options: GenerationOptions,
) -> None:
    """Judge one candidate and journal the verdict (a failed one too); MLflow comes per cell."""
    candidate = session.candidates[cid]
    source = JudgeSource("llm", session.judge_id, info.name, info.digest, info.parameter_count)
    verdict = judge_one(
        backend,
        info,
        session.rubric,
        session.views[session.cells[candidate.cell_id].scenario_id],
        candidate,
        retries=retries,
        seed=int(cid[:8], 16),
        options=options,
    )
    if verdict.scores is not None:
        record = session.record_for(cid, verdict.scores, source=source, attempts=verdict.attempts)
        summary.ok += 1
    else:
        record = failed_record(
            candidate, source, session.rubric, verdict.error, attempts=verdict.attempts
        )
        summary.failed.append(f"{cid}: {verdict.error}")
    session.save_records([record], sync=False)
