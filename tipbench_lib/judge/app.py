"""What the judge app does when it starts (:func:`open_session`) and when a card is submitted
(:func:`submit`): check, save, hand MLflow to the sender, and say what happened.

Kept out of the notebook so tests reach it without a browser, and so the notebook can run it as
the form's ``on_change`` handler: marimo calls that while it takes the submitted value, so the
card cell re-runs in the same pass instead of after a save cell of its own
(docs/architecture.md, section 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.escaping import md_text
from tipbench_lib.judge.delivery import BackgroundDelivery, read_delivered
from tipbench_lib.judge.pair_session import PairCard, PairSession
from tipbench_lib.judge.queue import parse_baseline
from tipbench_lib.judge.session import Card, JudgeSession, Scores
from tipbench_lib.judge.widgets import answer_problems

MODES = ("rubric", "pairwise")
"""The judge app's modes: score one tip on the rubric, or choose between two (section 13)."""


@dataclass(frozen=True)
class Outcome:
    """What a submit did, as the card shows it next."""

    ok: bool
    message: str
    """Markdown, data escaped."""
    saved: bool = False
    candidate_id: str = ""
    """The card a refused submit came from (its picks are shown again)."""
    draft: dict[str, Any] = field(default_factory=dict)
    """The judge's picks of a refused submit."""

    def draft_for(self, candidate_id: str) -> dict[str, Any]:
        """The picks to show again on this card ({} for any other card)."""
        return self.draft if candidate_id == self.candidate_id else {}


@dataclass(frozen=True)
class Opened:
    """The app's session once started, or why it could not start (markdown, data escaped)."""

    session: JudgeSession | PairSession | None = None
    delivery: BackgroundDelivery | None = None
    error: str = ""
    backlog: str = ""
    """What this machine journalled that MLflow did not take (:class:`.delivery.Backlog`)."""


def open_session(
    experiment: str,
    judge_id: str,
    *,
    blind: bool,
    order: str,
    baseline: Any = None,
    delta: Any = None,
    mode: str = "rubric",
) -> Opened:
    """The app's judge session on the tracking server, with its background sender.

    Every judge's scores journalled here that MLflow lacks go out first (:func:`read_delivered`),
    then scores a former session of this judge journalled but never delivered go out from the
    sender's thread, so the first card never waits for them. Any error comes back as the reason
    the app cannot start: every tipbench error says what to do.
    """
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.server import tracking_url

    try:
        if mode not in MODES:
            raise JudgingError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
        extra = {} if delta is None else {"delta": float(delta)}
        client = MlflowClient(tracking_url())
        stored, backlog = read_delivered(client, experiment.strip())
        if mode == "pairwise":
            pairs = PairSession(
                client,
                experiment.strip(),
                judge_id,
                blind=blind,
                order=order,
                baseline=parse_baseline(baseline),
                stored=stored,
            )
            return _opened(pairs, backlog)
        session = JudgeSession(
            client,
            experiment.strip(),
            judge_id,
            blind=blind,
            order=order,
            baseline=parse_baseline(baseline),
            stored=stored,
            **extra,
        )
    except Exception as exc:
        return Opened(error=str(exc))
    return _opened(session, backlog)


def _opened(session: Any, backlog: Any) -> Opened:
    """The session with its sender, which first sends what a former session left undelivered."""
    delivery = BackgroundDelivery(session)
    if session.undelivered():
        delivery.request()
    return Opened(session, delivery, backlog=backlog.warning())


def submit(
    session: JudgeSession, card: Card, value: dict[str, Any], delivery: BackgroundDelivery
) -> Outcome:
    """Save the form's ``value`` for ``card``: journal now, MLflow from ``delivery``'s thread.

    A value missing a dimension's score is refused (the form has no ``validate=``: that would be
    one more round trip to the kernel per submit), naming the dimensions and keeping the picks.
    Anything that goes wrong comes back as a refused outcome: marimo prints an exception from
    an ``on_change`` handler to the server's log only, and the judge must see it.
    """
    try:
        return _submit(session, card, value, delivery)
    except Exception as exc:
        return Outcome(ok=False, message=f"**Not saved:** {md_text(exc)}")


def _submit(
    session: JudgeSession, card: Card, value: dict[str, Any], delivery: BackgroundDelivery
) -> Outcome:
    rubric = session.rubric
    missing = [d.name for d in rubric.dimensions if value.get(d.id) is None]
    if missing:
        return Outcome(
            ok=False,
            message=f"**Not saved:** pick a score for {', '.join(md_text(m) for m in missing)}.",
            candidate_id=card.candidate_id,
            draft={k: v for k, v in value.items() if v is not None},
        )
    scores = {d: value[d] for d in rubric.dimension_ids}
    scores |= {f: bool(value[f]) for f in rubric.flag_ids}
    result = session.save(card.candidate_id, Scores(scores, value.get("note") or ""), sync=False)
    delivery.request()
    sent = delivery.state()
    return Outcome(
        ok=not sent.error,
        saved=True,
        message=(
            f"Saved tip #{card.position} (composite {result.record.composite:g}) to your "
            f"journal; {md_text(sent.sentence())}."
        ),
    )


def submit_pair(
    session: PairSession,
    card: PairCard,
    content: dict[str, Any],
    delivery: BackgroundDelivery,
) -> Outcome:
    """Save the page's answer to a pairwise ``card``: journal now, MLflow from ``delivery``.

    The page's message is checked first (:func:`tipbench_lib.judge.widgets.answer_problems`): an
    answer for another card than the one served (a key pressed twice before the next card came)
    or a malformed one is refused and the card stays. Called from the widget's message handler,
    so every failure comes back as a refused outcome, as :func:`submit` does.
    """
    try:
        problems = answer_problems(content, card.pair_id)
        if problems:
            note = content.get("note")
            return Outcome(
                ok=False,
                message=f"**Not saved:** {md_text('; '.join(problems))}.",
                candidate_id=card.pair_id,
                draft={"note": note} if isinstance(note, str) else {},
            )
        session.save(card, content["choice"], content.get("note") or "")
    except Exception as exc:
        return Outcome(ok=False, message=f"**Not saved:** {md_text(exc)}")
    delivery.request()
    sent = delivery.state()
    said = {"left": "left better", "right": "right better", "tie": "a tie"}[content["choice"]]
    return Outcome(
        ok=not sent.error,
        saved=True,
        message=(
            f"Saved pair #{card.position} ({said}) to your journal; {md_text(sent.sentence())}."
        ),
    )
