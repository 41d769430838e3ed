"""The LLM judge of pairs: two tips of one scenario, shown in both orders (docs/architecture.md,
section 13).

A small model answers "left" more often than the tips deserve (or "right"): its position bias.
So every pair is asked twice, once with each tip on the left, and the pair's answer is a win only
when both showings name the same tip; any disagreement is a tie. A judge that always answers
"left" therefore gives only ties: its bias cannot move a comparison, and it shows in the share of
showings won by the left side, printed after the run.

Everything else is the rubric judge's (:mod:`.llm`): the same backend and one-resident-model rule,
the rubric in the prompt, the answer constrained to a tiny JSON schema (Ollama ``format``, a
llama.cpp grammar), retried and then recorded as *failed* (never as an answer), the rubric and the
scenario marked as the prompt's shared prefix so the embedded backend evaluates them once for the
pairs of a scenario (section 7), journal first and MLflow after, a backend outage stopping the run
as interrupted with a rerun resuming where it stopped.

Which tips are paired is chosen here: for every scenario, every two cells of it, ``per_cell``
tip pairs drawn with a seed recorded in the judge's journal the first time, so a rerun draws the
same pairs (and a larger ``per_cell`` the same ones first) and judges only those it lacks.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Sequence
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
    GenerationError,
    JudgingError,
)
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.judgments import latest_pair_judgments
from tipbench_lib.core.records import (
    FAILED,
    PAIR_QUESTION,
    JudgeSource,
    PairJudgment,
    now_iso,
    pair_id,
)
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.scenarios import ScenarioView
from tipbench_lib.judge.llm import DEFAULT_RETRIES, REASON_CHARS, RunStatus, resident
from tipbench_lib.judge.session import JudgeSession

PAIR_OPTIONS = GenerationOptions(temperature=0.2, top_p=0.9, max_tokens=128, num_ctx=4096)
"""The rubric judge's sampling; fewer tokens, since the answer is one word and a reason."""
CHOICES: tuple[str, ...] = ("left", "right", "tie")
DEFAULT_PAIRS_PER_CELL = 1
PAIR_SAMPLE = "pair_sample"
"""The journal record that keeps the seed the judge's tip pairs were drawn with."""

PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "better": {"type": "string", "enum": list(CHOICES)},
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": REASON_CHARS,
            "description": "one short sentence: why",
        },
    },
    "required": ["better", "reason"],
}
"""The answer: which side is better (or a tie), then a short reason kept as the note."""


# -- which pairs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TipPair:
    """Two tips of one scenario from two cells, in the record's canonical order (A: the smaller
    cell id)."""

    scenario_id: str
    cell_a: str
    candidate_a: str
    cell_b: str
    candidate_b: str

    @property
    def pair_id(self) -> str:
        return pair_id(self.candidate_a, self.candidate_b)


def default_pair_seed(experiment: str, judge_id: str) -> int:
    """The seed a judge's tip pairs are drawn with unless one is recorded already."""
    return int(content_hash([experiment, judge_id, "llm-pairs"]), 16) % (2**31 - 1)


def pair_plan(
    by_cell: dict[str, list[str]],
    scenario_of: dict[str, str],
    seed: int,
    per_cell: int,
) -> list[TipPair]:
    """For every scenario and every two of its cells, ``per_cell`` tip pairs (fewer when the two
    cells have fewer tip pairs), scenario by scenario so the prompt's scenario prefix is reused.

    Each cell pair draws from its own generator seeded by ``seed`` and the two cell ids, so the
    draw does not depend on the other cells, and a larger ``per_cell`` keeps the smaller one's
    pairs first.
    """
    if per_cell < 1:
        raise JudgingError(f"--pairs-per-cell must be 1 or more, got {per_cell}")
    by_scenario: dict[str, list[str]] = {}
    for cell_id in sorted(by_cell):
        by_scenario.setdefault(scenario_of[cell_id], []).append(cell_id)
    plan: list[TipPair] = []
    for scenario_id, cells in sorted(by_scenario.items()):
        for cell_a, cell_b in itertools.combinations(cells, 2):
            tips = list(itertools.product(sorted(by_cell[cell_a]), sorted(by_cell[cell_b])))
            random.Random(f"{seed}:{cell_a}:{cell_b}").shuffle(tips)
            plan += [TipPair(scenario_id, cell_a, a, cell_b, b) for a, b in tips[:per_cell]]
    return plan


def recorded_seed(session: JudgeSession) -> int:
    """The seed this judge's pairs were drawn with: journalled once, reused on every rerun."""
    for record in session.journal.records_of(PAIR_SAMPLE):
        if isinstance(record.get("seed"), int):
            return int(record["seed"])
    seed = default_pair_seed(session.experiment, session.judge_id)
    session.journal.append_record({"type": PAIR_SAMPLE, "seed": seed, "created_at": now_iso()})
    return seed


# -- prompt ---------------------------------------------------------------------------------------


def pair_instructions(rubric: Rubric) -> str:
    """The system message: the rubric as the measure of "better", and how to answer."""
    return (
        "You are a strict, fair judge of short tips that a productivity app shows its users. "
        "You will see one user's situation and two tips, one on the LEFT and one on the RIGHT. "
        "Decide which tip would score higher on this rubric as a whole.\n\n"
        f"{rubric.prompt_text()}\n\n"
        'Answer with one JSON object and nothing else: "better" is "left", "right" or "tie" '
        '(only when they are equally good), and "reason" is one short sentence. The side a tip '
        "is shown on says nothing about its quality."
    )


def pair_messages(
    rubric: Rubric, view: ScenarioView, left: str, right: str
) -> tuple[dict[str, str], ...]:
    """Chat form: the rubric as the system message, the scenario and both tips as the user's."""
    user = (
        f"{view.as_text()}\n\n"
        f"LEFT tip (verbatim):\n<<<\n{left}\n>>>\n\n"
        f"RIGHT tip (verbatim):\n<<<\n{right}\n>>>\n\n"
        "Your JSON answer:"
    )
    return (
        {"role": "system", "content": pair_instructions(rubric)},
        {"role": "user", "content": user},
    )


def showing_request(
    info: ModelInfo,
    rubric: Rubric,
    view: ScenarioView,
    left: str,
    right: str,
    seed: int,
    options: GenerationOptions,
) -> GenerationRequest:
    """One showing of a pair. The rubric and the scenario are marked as the prefix every showing
    of the scenario shares, so the embedded backend evaluates them once for both orders of every
    pair of the scenario (docs/architecture.md, section 7)."""
    messages = pair_messages(rubric, view, left, right)
    marks = (pair_instructions(rubric), view.as_text())
    common = {"seed": seed, "options": options, "json_schema": PAIR_SCHEMA, "prefix_marks": marks}
    if info.is_base:
        prompt = f"{messages[0]['content']}\n\n{messages[1]['content']}\n"
        return GenerationRequest(prompt=prompt, **common)
    return GenerationRequest(messages=messages, **common)


# -- answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Showing:
    """One order's outcome: the side chosen ("left", "right", "tie") or the last error."""

    choice: str | None
    reason: str
    error: str
    attempts: int


def parse_choice(text: str) -> tuple[str, str]:
    """(choice, reason) from a model's answer; raises JudgingError naming what is wrong."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JudgingError(f"the answer is not valid JSON ({exc.msg}): {text[:120]!r}") from exc
    if not isinstance(answer, dict):
        raise JudgingError(f"the answer is not a JSON object: {text[:120]!r}")
    choice = answer.get("better")
    if choice not in CHOICES:
        raise JudgingError(f"better must be one of {', '.join(CHOICES)}, got {choice!r}")
    reason = answer.get("reason")
    return str(choice), str(reason)[:REASON_CHARS] if isinstance(reason, str) else ""


def ask(
    backend: Backend,
    info: ModelInfo,
    request_for: Callable[[int], GenerationRequest],
    *,
    retries: int,
    seed: int,
) -> Showing:
    """Ask one showing up to ``1 + retries`` times (a new seed each time); the first valid answer
    counts."""
    error = ""
    for attempt in range(retries + 1):
        try:
            answer = backend.generate(info.name, request_for(seed + attempt))
            choice, reason = parse_choice(answer.text)
            return Showing(choice, reason, "", attempt + 1)
        except (JudgingError, GenerationError) as exc:
            error = str(exc)
    return Showing(
        None, "", f"no valid answer after {retries + 1} attempt(s): {error}", retries + 1
    )


def both_orders(first: str, second: str) -> str:
    """The pair's answer from its two showings in the pair's terms ("a", "b", "tie"): a win only
    when both name the same tip, any disagreement a tie."""
    return first if first == second else "tie"


def in_pair_terms(choice: str, left_side: str) -> str:
    """A showing's choice ("left", "right", "tie") as the pair's side ("a", "b") or "tie"."""
    right_side = "b" if left_side == "a" else "a"
    return {"left": left_side, "right": right_side, "tie": "tie"}[choice]


def judge_pair(
    backend: Backend,
    info: ModelInfo,
    rubric: Rubric,
    view: ScenarioView,
    texts: dict[str, str],
    pair: TipPair,
    source: JudgeSource,
    *,
    retries: int,
    options: GenerationOptions,
) -> PairJudgment:
    """Both showings of one pair (A on the left, then B on the left) as one record; a showing
    without a valid answer makes the whole pair failed, never half an answer."""
    tip = {"a": texts[pair.candidate_a], "b": texts[pair.candidate_b]}
    seed = int(pair.pair_id[:8], 16)
    answers: dict[str, str] = {}
    reasons: list[str] = []
    attempts = 0
    for left_side, right_side in (("a", "b"), ("b", "a")):

        def request_for(s: int, left: str = left_side, right: str = right_side) -> Any:
            return showing_request(info, rubric, view, tip[left], tip[right], s, options)

        showing = ask(backend, info, request_for, retries=retries, seed=seed)
        attempts += showing.attempts
        if showing.choice is None:
            shown = "A" if left_side == "a" else "B"
            return _pair_record(
                pair, source, rubric, "", {}, "", attempts, f"{shown} on the left: {showing.error}"
            )
        answers[left_side] = in_pair_terms(showing.choice, left_side)
        reasons.append(f"{left_side.upper()} left: {showing.reason}")
    answer = both_orders(answers["a"], answers["b"])
    return _pair_record(pair, source, rubric, answer, answers, " | ".join(reasons), attempts, "")


def _pair_record(
    pair: TipPair,
    source: JudgeSource,
    rubric: Rubric,
    answer: str,
    order_answers: dict[str, str],
    note: str,
    attempts: int,
    error: str,
) -> PairJudgment:
    return PairJudgment(
        candidate_a=pair.candidate_a,
        candidate_b=pair.candidate_b,
        cell_a=pair.cell_a,
        cell_b=pair.cell_b,
        scenario_id=pair.scenario_id,
        source=source,
        rubric=rubric.ref,
        answer=answer,
        order_answers=order_answers,
        question=PAIR_QUESTION,
        note=note,
        **({"status": FAILED, "error": error} if error else {}),
        attempts=attempts,
        created_at=now_iso(),
    )


# -- position bias --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderEffect:
    """What the two orders did over a judge's pairs: the left side's share of decided showings
    (with an interval), and the pairs whose orders disagreed (counted as ties)."""

    pairs: int
    n_left: int
    n_right: int
    n_ties: int
    share_left: float | None
    share_left_lo: float | None
    share_left_hi: float | None
    disagreed: int
    same_side: int
    """Disagreeing pairs where the same side won both showings: position, not content."""

    def lines(self) -> list[str]:
        if not self.pairs:
            return []
        decided = self.n_left + self.n_right
        share = (
            f"{self.share_left:.2f} ({self.share_left_lo:.2f}–{self.share_left_hi:.2f})"
            if self.share_left is not None
            else "n/a"
        )
        return [
            f"  position bias: the left side won {self.n_left} of {decided} decided showings, "
            f"share_left {share} (0.50 is none); {self.n_ties} showing(s) were ties",
            f"  orders disagreed on {self.disagreed} of {self.pairs} pair(s) "
            f"({self.same_side} picked the same side both times): the both-orders rule counted "
            "them as ties",
        ]


def order_effect(pairs: Iterable[PairJudgment]) -> OrderEffect:
    """The order effect of a judge's answered pairs: the left side's share of decided showings
    from :func:`tipbench_lib.stats.pairwise.position_bias` (a 95% interval over pairs, not
    showings: ``stats/pair_judges.clustered_wilson``), and the
    pairs whose two orders disagreed."""
    from tipbench_lib.core.frames import pairs_frame
    from tipbench_lib.stats.pairwise import position_bias

    answered = [p for p in latest_pair_judgments(pairs).values() if p.ok]
    two = [p for p in answered if len(p.order_answers) == 2]
    disagreed = [p for p in two if len(set(p.order_answers.values())) > 1]
    if not answered:
        return OrderEffect(0, 0, 0, 0, None, None, None, 0, 0)
    (bias,) = position_bias(pairs_frame(answered)).to_dicts()
    return OrderEffect(
        pairs=len(answered),
        n_left=bias["n_left"],
        n_right=bias["n_right"],
        n_ties=bias["n_ties"],
        share_left=bias["share_left"],
        share_left_lo=bias["share_left_lo"],
        share_left_hi=bias["share_left_hi"],
        disagreed=len(disagreed),
        same_side=bias["n_same_side"],
    )


# -- the run --------------------------------------------------------------------------------------


@dataclass
class LlmPairsSummary(RunStatus):
    model: str
    judge_id: str
    seed: int
    planned: int = 0
    skipped: int = 0
    """Pairs this judge had answered already (a rerun resumes)."""
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    sync_error: str = ""
    stopped: str = ""
    left: int = 0
    effect: OrderEffect | None = None

    def lines(self) -> list[str]:
        head = (
            f"LLM pair judge {self.judge_id}: {self.ok} pair(s) judged in both orders, "
            f"{len(self.failed)} failed, {self.skipped} judged before (of {self.planned} "
            f"planned; tip pairs drawn with seed {self.seed})"
        )
        effect = self.effect.lines() if self.effect is not None else []
        return [head, *self.status_lines("pair(s)", effect)]


def answered_pairs(session: JudgeSession) -> list[PairJudgment]:
    """This judge's answered pairs: MLflow's (verified on read, perhaps from another machine) and
    this machine's journal merged, the latest answer per pair (a failed attempt is no answer and
    hides none, as in :func:`tipbench_lib.core.frames.pairs_frame`)."""
    stored = [p for p in session.records.pairs if p.judge_id == session.judge_id]
    answered = (p for p in [*stored, *session.journal.pairs()] if p.ok)
    return list(latest_pair_judgments(answered).values())


def save_pair(session: JudgeSession, pair: PairJudgment) -> None:
    """Journal one pair (fsynced) first; its cell A's run gets it with the next sync."""
    session.journal.append_pair(pair)
    session.syncer.saved([pair])


def run_llm_pairs(
    session: JudgeSession,
    backend: Backend,
    info: ModelInfo,
    *,
    per_cell: int = DEFAULT_PAIRS_PER_CELL,
    retries: int = DEFAULT_RETRIES,
    options: GenerationOptions = PAIR_OPTIONS,
    on_progress: Callable[[int, int], None] | None = None,
) -> LlmPairsSummary:
    """Judge every planned pair this judge has not answered yet, scenario by scenario.

    Each pair is journalled as it comes (a failed one too); the run of a cell A is updated once
    its pairs are done, so an interrupted run keeps everything and the next one judges only what
    is left.
    """
    scenario_of = {cid: session.cells[cid].scenario_id for cid in session.by_cell}
    if len(set(scenario_of.values())) == len(scenario_of):
        raise JudgingError(
            f"experiment {session.experiment!r} has one cell per scenario: there is nothing to "
            "judge in pairs; collect at least two (model, prompt) cells of a scenario, or judge "
            "with --mode rubric"
        )
    seed = recorded_seed(session)
    plan = pair_plan(session.by_cell, scenario_of, seed, per_cell)
    done = {p.pair_id for p in answered_pairs(session)}
    pending = [p for p in plan if p.pair_id not in done]
    summary = LlmPairsSummary(
        info.name, session.judge_id, seed, len(plan), len(plan) - len(pending)
    )
    source = JudgeSource("llm", session.judge_id, info.name, info.digest, info.parameter_count)
    texts = {cid: c.text for cid, c in session.candidates.items()}
    try:
        if pending:
            _judge_all(
                session,
                backend,
                info,
                pending,
                texts,
                source,
                summary,
                retries,
                options,
                on_progress,
            )
    except BACKEND_STOPS as exc:
        summary.stopped = str(exc)
        summary.left = len(pending) - summary.ok - len(summary.failed)
    summary.sync_error = sync_pairs(session)
    summary.effect = order_effect(answered_pairs(session))
    return summary


def _judge_all(
    session: JudgeSession,
    backend: Backend,
    info: ModelInfo,
    pending: Sequence[TipPair],
    texts: dict[str, str],
    source: JudgeSource,
    summary: LlmPairsSummary,
    retries: int,
    options: GenerationOptions,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Load the judge model, judge and journal each pending pair, unload (as :mod:`.llm`)."""
    with resident(backend, info.name, options):
        for done, pair in enumerate(pending, start=1):
            record = judge_pair(
                backend,
                info,
                session.rubric,
                session.views[pair.scenario_id],
                texts,
                pair,
                source,
                retries=retries,
                options=options,
            )
            save_pair(session, record)
            if record.ok:
                summary.ok += 1
            else:
                summary.failed.append(f"{record.pair_id}: {record.error}")
            if done == len(pending) or pending[done].cell_a != pair.cell_a:
                summary.sync_error = sync_pairs(session)
            if on_progress:
                on_progress(done, len(pending))


def sync_pairs(session: JudgeSession) -> str:
    """Send the journalled pairs MLflow lacks (to each pair's cell A, the judge's syncer:
    :mod:`tipbench_lib.judge.delivery`); '' when all arrived."""
    return session.sync_pending()
