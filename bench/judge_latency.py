"""How long a judge waits from submit to the next card: in a real browser and in the library,
with the adaptive queue (the default) and the uniform order side by side.

Starts its own MLflow server, collects two experiments of the same shape (one per order, so one
order's scores never feed the other's queue), runs `marimo run notebooks/judge.py --order X` for
each, drives headless Chromium over 20 cards, and prints the median and p95 in milliseconds. Then
it times 20 saves through ``JudgeSession.save`` (journal fsync + MLflow artifact and metrics),
split into the journal part and the MLflow part, and the next card and the status panel's
numbers from the library, per order.

    .venv/bin/python bench/judge_latency.py [--cards 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
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
from tipbench_lib.judge.session import JudgeSession  # noqa: E402
from tipbench_lib.tracking.client import MlflowClient  # noqa: E402
from tipbench_lib.tracking.server import LocalMlflowServer  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<44} median {statistics.median(values):8.1f} ms   p95 {p95(values):8.1f} ms"
        f"   (n={len(values)})"
    )


ORDERS = ("adaptive", "uniform")
BASELINE = "smollm2-135m:v1"


def browser_latencies(env: dict[str, str], experiment: str, cards: int, order: str) -> list[float]:
    """Click submit, then wait until a different card is in the DOM; one time per card."""
    times = []
    app = judge_app(env, experiment, "bench-browser", "--order", order, "--baseline", BASELINE)
    with app as url, browser_page() as page:
        page.goto(url)
        current = current_candidate(page)
        for _ in range(cards):
            pick_scores(page, (4, 3, 5))
            button = page.get_by_role("button", name="Save and next")
            started = time.perf_counter()
            button.click()
            page.wait_for_selector(f".tb-card:not([data-candidate='{current}'])", timeout=30_000)
            times.append((time.perf_counter() - started) * 1000)
            current = current_candidate(page)
    return times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20)
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
            browser, library = {}, {}
            with MlflowClient(url) as client:
                # Per order: 2 models x 2 prompts x 12 scenarios x 2 tips = 96 candidates, enough
                # for 2 x 20 cards; the baseline's 3 comparisons stay open over 40 equal scores.
                for order in ORDERS:
                    collected_experiment(
                        client,
                        f"bench-{order}",
                        prompts=("v1", "v2-mentor"),
                        n_scenarios=12,
                        n_tips=2,
                    )
                # Side by side: the orders alternate, so a slow spell of the machine hits both.
                for order in ORDERS:
                    browser[order] = browser_latencies(env, f"bench-{order}", args.cards, order)
                for order in ORDERS:
                    library[order] = library_latencies(client, f"bench-{order}", args.cards, order)
        finally:
            server.stop()
    print(f"judge latency over {args.cards} cards per order (2-core machine, shared)")
    for order in ORDERS:
        print(line(f"browser ({order}): submit -> next card ready", browser[order]))
    ratio = statistics.median(browser["adaptive"]) / statistics.median(browser["uniform"])
    print(f"{'browser: adaptive / uniform median':<44} {ratio:8.2f}x")
    for order in ORDERS:
        lib = library[order]
        print(line(f"library ({order}): save (journal + MLflow)", lib["total"]))
        print(line("  of which journal append + fsync", lib["journal"]))
        print(line("  of which MLflow artifact + metrics", lib["mlflow"]))
        print(line(f"library ({order}): next card", lib["next"]))
        print(line(f"library ({order}): status panel numbers", lib["status"]))


if __name__ == "__main__":
    main()
