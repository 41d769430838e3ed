"""How long a judge waits from submit to the next card: in a real browser and in the library.

Starts its own MLflow server and `marimo run notebooks/judge.py`, drives headless Chromium over 20
cards, and prints the median and p95 in milliseconds; then times 20 saves through
``JudgeSession.save`` (journal fsync + MLflow artifact and metrics) on the same server, split into
the journal part and the MLflow part.

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


def browser_latencies(env: dict[str, str], experiment: str, cards: int) -> list[float]:
    """Click submit, then wait until a different card is in the DOM; one time per card."""
    times = []
    with judge_app(env, experiment, "bench-browser") as url, browser_page() as page:
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


def library_latencies(client: MlflowClient, experiment: str, cards: int) -> dict[str, list[float]]:
    session = JudgeSession(client, experiment, "bench-library")
    out: dict[str, list[float]] = {"total": [], "journal": [], "mlflow": [], "next": []}
    for _ in range(cards):
        card = session.next_card()
        started = time.perf_counter()
        result = session.save(card.candidate_id, tip(4, 3, 5, True, False))
        saved = time.perf_counter()
        session.next_card()
        out["next"].append((time.perf_counter() - saved) * 1000)
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
            with MlflowClient(url) as client:
                # 2 models x 2 prompts x 4 scenarios x 3 tips = 48 candidates, enough for 2 x 20.
                collected_experiment(client, "bench", prompts=("v1", "v2-mentor"), n_scenarios=4)
                browser = browser_latencies(env, "bench", args.cards)
                library = library_latencies(client, "bench", args.cards)
        finally:
            server.stop()
    print(f"judge latency over {args.cards} cards (2-core machine, shared)")
    print(line("browser: submit -> next card ready", browser))
    print(line("library: save (journal + MLflow)", library["total"]))
    print(line("  of which journal append + fsync", library["journal"]))
    print(line("  of which MLflow artifact + metrics", library["mlflow"]))
    print(line("library: next card from disk", library["next"]))


if __name__ == "__main__":
    main()
