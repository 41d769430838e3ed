"""How long a judge waits from submit to the next card: in a real browser and in the library,
with the adaptive queue (the default) and the uniform order side by side, for the rubric card
and the pairwise card (`--mode pairwise`, answered with one key; docs/architecture.md section 13).

Starts its own MLflow server, collects one experiment of the same shape per app (so one app's
scores never feed another's queue), runs `marimo run notebooks/judge.py --order X` for each order,
and drives headless Chromium over the cards, one card per app in turn, so a slow spell of this
shared machine hits every app alike. Two times per card:

- **in the page**: from the click on "Save and next" (a pairwise card: the key press) to the new
  card in the DOM (a listener and a MutationObserver in the page, `performance.now()`), and **on
  screen**: to the frame that paints it, what the judge waits for; a pairwise card also has
  **ready**: until the app's widget (judge/widgets.py) has seen the new card and takes its keys;
- **round trip**: Playwright's `click()` until its `wait_for_selector` sees the new card, which
  adds Playwright's own checks and polling (the measure the issue's 148 ms was taken with); the
  same calls on a static page whose button swaps the card at once give the harness's floor.

``--against REV`` adds the judge app of another revision (a temporary `git worktree`, run with
its own library through PYTHONPATH and the adaptive app's arguments, which a revision
before the adaptive queue ignores), so a change is measured against the
code it replaces in the same run. Then it times saves through ``JudgeSession.save`` (journal
fsync + MLflow artifact and metrics), split into the journal part and the MLflow part, and the
next card and the status panel's numbers from the library, per order.

    .venv/bin/python bench/judge_latency.py [--cards 20] [--against 79f3ea4] [--no-pairwise]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_judge import collected_experiment, tip  # noqa: E402
from tests.test_judge_browser import (  # noqa: E402
    browser_page,
    current_candidate,
    judge_app,
    pick_scores,
)
from tipbench_lib.judge.pair_session import PairSession  # noqa: E402
from tipbench_lib.judge.session import JudgeSession  # noqa: E402
from tipbench_lib.tracking.client import MlflowClient  # noqa: E402
from tipbench_lib.tracking.server import LocalMlflowServer  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<50} median {statistics.median(values):8.1f} ms   p95 {p95(values):8.1f} ms"
        f"   (n={len(values)})"
    )


ORDERS = ("adaptive", "uniform")
BASELINE = "smollm2-135m:v1"

# In the page, on the wall clock (ms since the epoch, as Python's time.time() * 1000): the click
# on the submit button, the first new card in the DOM after it, and the frame that paints it.
TIMER = """
const now = () => performance.timeOrigin + performance.now();
window.__tb = {click: null, card: null, painted: null, seen: null};
const started = () => {
  window.__tb.click = now();
  window.__tb.card = window.__tb.painted = null;
};
document.addEventListener('click', (event) => {
  // marimo's form lives in a shadow root: the event's path, not its target, names the button.
  const button = event.composedPath().find((node) => node.tagName === 'BUTTON');
  if (button && /Save and next/.test(button.innerText)) started();
}, true);
// A pairwise card is answered with one key (judge/widgets.py).
document.addEventListener('keydown', (event) => {
  if (['1', '2', '3'].includes(event.key) && document.querySelector('.tb-pair')) started();
}, true);
new MutationObserver(() => {
  const card = document.querySelector('.tb-card');
  const id = card && card.getAttribute('data-candidate');
  if (id && id !== window.__tb.seen) {
    window.__tb.seen = id;
    if (window.__tb.click !== null && window.__tb.card === null) {
      window.__tb.card = now();
      // The next frame's callbacks run before it paints; a task queued from them runs after.
      requestAnimationFrame(() => setTimeout(() => { window.__tb.painted = now(); }, 0));
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""

FLOOR_PAGE = """<!doctype html><html><body>
<div class='tb-card' data-candidate='c0'>a card</div>
<button onclick="document.querySelector('.tb-card').outerHTML =
  `<div class='tb-card' data-candidate='c${++window.cards}'>a card</div>`">Save and next</button>
<script>window.cards = 0;</script></body></html>"""


@dataclass
class App:
    """One judge app in one browser page, and the times measured on it."""

    name: str
    page: object
    current: str = ""
    kind: str = "rubric"
    """rubric (scores, then the button), pairwise (one key) or floor (the button only)."""
    in_page: list[float] = field(default_factory=list)
    round_trip: list[float] = field(default_factory=list)
    painted: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    """Pairwise: the key press -> the new card's answer widget takes keys."""
    parts: dict[str, list[float]] = field(default_factory=dict)
    """Where the round trip went: Playwright before the click, the app (click -> card in the
    DOM), the browser (card -> painted), Playwright after the paint."""

    def judge_one(self) -> None:
        if self.kind == "rubric":
            pick_scores(self.page, (4, 3, 5))
        if self.kind == "pairwise":
            # The card takes keys once its widget has rendered (what a judge waits for too).
            self.page.wait_for_function(
                "id => window.__tbAnswerReady && window.__tbAnswerReady.card === id",
                arg=self.current,
            )
            started, wall = time.perf_counter(), time.time() * 1000
            self.page.keyboard.press("123"[len(self.round_trip) % 3])
        else:
            button = self.page.get_by_role("button", name="Save and next")
            started, wall = time.perf_counter(), time.time() * 1000
            button.click()
        self.page.wait_for_selector(
            f".tb-card:not([data-candidate='{self.current}'])", timeout=30_000
        )
        ended = time.perf_counter()
        self.round_trip.append((ended - started) * 1000)
        self.page.wait_for_function("window.__tb.painted !== null")
        timer = self.page.evaluate("window.__tb")
        if self.kind == "pairwise":
            new = current_candidate(self.page)
            self.page.wait_for_function(
                "id => window.__tbAnswerReady && window.__tbAnswerReady.card === id", arg=new
            )
            ready = self.page.evaluate("window.__tbAnswerReady.at")
            self.ready.append(ready - timer["click"])
        self.in_page.append(timer["card"] - timer["click"])
        seen = wall + (ended - started) * 1000
        self.painted.append(timer["painted"] - timer["click"])
        for name, value in (
            ("Playwright before the click", timer["click"] - wall),
            ("app: click -> card in the DOM", timer["card"] - timer["click"]),
            ("browser: card -> painted", timer["painted"] - timer["card"]),
            ("Playwright after the paint", seen - timer["painted"]),
        ):
            self.parts.setdefault(name, []).append(value)
        self.current = current_candidate(self.page)


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A checkout of ``revision`` in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="judge-bench-rev-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(folder), revision],
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=False
        )


def browser_latencies(
    env: dict[str, str], client: MlflowClient, cards: int, against: str | None, pairwise: bool
) -> list[App]:
    """One card per app in turn, ``cards`` rounds."""
    variants: list[tuple[str, dict[str, str], tuple[str, ...], Path]] = [
        (order, env, ("--order", order, "--baseline", BASELINE), REPO) for order in ORDERS
    ]
    if pairwise:
        variants += [
            (
                f"pairwise {order}",
                env,
                ("--mode", "pairwise", "--order", order, "--baseline", BASELINE),
                REPO,
            )
            for order in ORDERS
        ]
    with contextlib.ExitStack() as stack:
        if against:
            checkout = stack.enter_context(worktree(against))
            # The same arguments as the adaptive app (a revision before --order ignores them).
            variants.append(
                (
                    f"{against}",
                    {**env, "PYTHONPATH": str(checkout)},
                    ("--order", "adaptive", "--baseline", BASELINE),
                    checkout,
                )
            )
        apps = []
        for index, (name, app_env, extra, repo) in enumerate(variants):
            experiment = f"bench-{index}"
            # 2 models x 2 prompts x 12 scenarios x 2 tips = 96 candidates, enough for the cards;
            # the baseline's 3 comparisons stay open over 40 equal scores.
            collected_experiment(
                client, experiment, prompts=("v1", "v2-mentor"), n_scenarios=12, n_tips=2
            )
            url = stack.enter_context(
                judge_app(app_env, experiment, "bench-browser", *extra, repo=repo)
            )
            # One browser, a page per app (Playwright's sync API runs one instance at a time).
            page = (
                stack.enter_context(browser_page())
                if not apps
                else apps[0].page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
            )
            page.add_init_script(TIMER)
            page.goto(url)
            kind = "pairwise" if name.startswith("pairwise") else "rubric"
            apps.append(App(name, page, current_candidate(page), kind))
        # The harness's own floor: the same clicks and waits on a static page whose button
        # swaps the card at once, so "round trip" minus this is the app's share.
        floor = apps[0].page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        floor.set_content(FLOOR_PAGE)
        floor.add_script_tag(content=TIMER)
        apps.append(App("harness floor: no app", floor, "c0", "floor"))
        for _ in range(cards):
            for app in apps:
                app.judge_one()
        return apps


def library_latencies(
    client: MlflowClient, experiment: str, cards: int, order: str
) -> dict[str, list[float]]:
    session = JudgeSession(
        client, experiment, "bench-library", order=order, baseline=tuple(BASELINE.split(":"))
    )
    out: dict[str, list[float]] = {
        "total": [],
        "journal": [],
        "mlflow": [],
        "next": [],
        "status": [],
    }
    for _ in range(cards):
        card = session.next_card()
        started = time.perf_counter()
        result = session.save(card.candidate_id, tip(4, 3, 5, True, False))
        saved = time.perf_counter()
        session.next_card()
        served = time.perf_counter()
        session.status()
        session.comparisons()
        out["status"].append((time.perf_counter() - served) * 1000)
        out["next"].append((served - saved) * 1000)
        out["total"].append((saved - started) * 1000)
        out["journal"].append(result.journal_ms)
        out["mlflow"].append(result.mlflow_ms)
        assert result.synced, result.sync_error
    return out


def pair_library_latencies(
    client: MlflowClient, experiment: str, cards: int, order: str
) -> dict[str, list[float]]:
    """The pairwise card's library work per answer: the journalled save, MLflow's half as the
    sender does it, the next card, the status panel's numbers."""
    session = PairSession(
        client, experiment, "bench-library", order=order, baseline=tuple(BASELINE.split(":"))
    )
    out: dict[str, list[float]] = {"total": [], "mlflow": [], "next": [], "status": []}
    for index in range(cards):
        card = session.next_card()
        started = time.perf_counter()
        session.save(card, ("left", "right", "tie")[index % 3])
        saved = time.perf_counter()
        error = session.sync_pending()
        synced = time.perf_counter()
        assert not error, error
        session.next_card()
        served = time.perf_counter()
        if session.people is not None:
            session.status()
            session.comparisons()
        out["status"].append((time.perf_counter() - served) * 1000)
        out["next"].append((served - synced) * 1000)
        out["total"].append((saved - started) * 1000)
        out["mlflow"].append((synced - saved) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument(
        "--against", metavar="REV", help="also run this git revision's judge app, side by side"
    )
    parser.add_argument(
        "--no-pairwise",
        dest="pairwise",
        action="store_false",
        help="leave out the pairwise card's apps (measured beside the rubric card by default)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="judge-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        server = LocalMlflowServer(Path(tmp) / "mlflow")
        url = server.start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
            env.update(MLFLOW_TRACKING_URI=url, TIPBENCH_HOME=str(home))
            os.environ.update(TIPBENCH_HOME=str(home))
            library, pair_library = {}, {}
            with MlflowClient(url) as client:
                apps = browser_latencies(env, client, args.cards, args.against, args.pairwise)
                for order in ORDERS if args.pairwise else ():
                    collected_experiment(
                        client,
                        f"bench-pairs-{order}",
                        prompts=("v1", "v2-mentor"),
                        n_scenarios=12,
                        n_tips=2,
                    )
                    pair_library[order] = pair_library_latencies(
                        client, f"bench-pairs-{order}", args.cards, order
                    )
                for order in ORDERS:
                    collected_experiment(
                        client,
                        f"bench-library-{order}",
                        prompts=("v1", "v2-mentor"),
                        n_scenarios=12,
                        n_tips=2,
                    )
                    library[order] = library_latencies(
                        client, f"bench-library-{order}", args.cards, order
                    )
        finally:
            server.stop()
    print(f"judge latency over {args.cards} cards per app, apps in turn (2-core machine, shared)")
    for app in apps:
        print(line(f"in the page ({app.name}): click -> next card", app.in_page))
    for app in apps:
        print(line(f"on screen ({app.name}): click -> card painted", app.painted))
    for app in apps:
        if app.ready:
            print(line(f"ready ({app.name}): key -> the card takes keys", app.ready))
    for app in apps:
        print(line(f"round trip ({app.name}): Playwright click -> card", app.round_trip))
    by_name = {app.name: app for app in apps}
    for label, pick in (
        ("in the page", "in_page"),
        ("on screen", "painted"),
        ("round trip", "round_trip"),
    ):
        ratio = statistics.median(getattr(by_name["adaptive"], pick)) / statistics.median(
            getattr(by_name["uniform"], pick)
        )
        print(f"{label + ': adaptive / uniform median':<50} {ratio:8.2f}x")
        if args.against:
            ratio = statistics.median(getattr(by_name["adaptive"], pick)) / statistics.median(
                getattr(by_name[args.against], pick)
            )
            print(f"{label + f': adaptive / {args.against} median':<50} {ratio:8.2f}x")
        for order in ORDERS if args.pairwise else ():
            ratio = statistics.median(getattr(by_name[f"pairwise {order}"], pick)) / (
                statistics.median(getattr(by_name[order], pick))
            )
            print(f"{label + f': pairwise / rubric card ({order}) median':<50} {ratio:8.2f}x")
    print("where the round trip went (medians, ms):")
    for app in apps:
        parts = "   ".join(f"{k} {statistics.median(v):6.1f}" for k, v in app.parts.items())
        print(f"  {app.name:<24} {parts}")
    floor = statistics.median(by_name["harness floor: no app"].round_trip)
    for app in apps[:-1]:
        share = statistics.median(app.round_trip) - floor
        print(f"{f'round trip - harness floor ({app.name})':<50} {share:8.1f} ms")
    for order in ORDERS:
        lib = library[order]
        print(line(f"library ({order}): save (journal + MLflow)", lib["total"]))
        print(line("  of which journal append + fsync", lib["journal"]))
        print(line("  of which MLflow artifact + metrics", lib["mlflow"]))
        print(line(f"library ({order}): next card", lib["next"]))
        print(line(f"library ({order}): status panel numbers", lib["status"]))
    for order, lib in pair_library.items():
        print(line(f"library (pairwise {order}): save (journal)", lib["total"]))
        print(line(f"library (pairwise {order}): MLflow (the sender's)", lib["mlflow"]))
        print(line(f"library (pairwise {order}): next card", lib["next"]))
        print(line(f"library (pairwise {order}): status panel numbers", lib["status"]))


if __name__ == "__main__":
    main()
