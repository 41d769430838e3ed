"""Who can reach the marimo apps, and what data can make them render.

Real ``marimo run`` servers, started as ``make judge`` starts them (a token read from stdin),
probed with plain HTTP and WebSocket clients and with headless Chromium:

- no token, a wrong token: the login page, never the app;
- a foreign ``Host`` (what DNS rebinding looks like) and a foreign-``Origin`` WebSocket (another
  local page driving the app with the judge's cookie): refused, even with a valid session;
- a snapshot whose names hold HTML and markdown renders them as text in the compare app;
- the compare app's report folder box writes under its output folder only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import polars as pl
import pytest
import websockets

from tipbench_lib.app_guard import HostOriginGuard, refusal
from tipbench_lib.core.paths import SHIPPED_DATA
from tipbench_lib.tracking.server import free_port

from .browser import CHROMIUM_ARGS, require_chromium

REPO = Path(__file__).resolve().parents[1]
MARIMO = str(Path(sys.executable).parent / "marimo")


@contextlib.contextmanager
def marimo_app(
    notebook: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """``marimo run`` with a fresh token passed on stdin, as ``make judge`` does: (url, token)."""
    port = free_port()
    token = secrets.token_urlsafe(18)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    base_env.setdefault("TIPBENCH_HOME", str(tmp_path / "home"))
    base_env["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"  # never reached by these apps' checks
    log = (tmp_path / f"marimo-{port}.log").open("w")
    proc = subprocess.Popen(
        [
            MARIMO,
            "run",
            str(REPO / notebook),
            "--headless",
            "--port",
            str(port),
            "--session-ttl",
            "5",
            "--token-password-file",
            "-",
            "--",
            *args,
        ],
        env={**base_env, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(token + "\n")
    proc.stdin.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a bound for a loaded machine, not a speed
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"marimo-{port}.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            raise TimeoutError("marimo run did not answer within 90 s")
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def _session_cookie(url: str, token: str) -> dict[str, str]:
    answer = httpx.get(f"{url}/?access_token={token}")
    assert answer.cookies, "a valid token opens a session"
    return dict(answer.cookies)


async def _websocket(url: str, cookies: dict[str, str], origin: str | None, host: str | None):
    """'open' when the app's WebSocket accepted us (and said something), else why not."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if host:
        headers["Host"] = host
    ws_url = url.replace("http://", "ws://") + f"/ws?session_id=s_{secrets.token_hex(4)}"
    try:
        async with websockets.connect(ws_url, origin=origin, additional_headers=headers) as ws:
            await asyncio.wait_for(ws.recv(), 30)
            return "open"
    except websockets.InvalidStatus as exc:
        return f"refused {exc.response.status_code}"


# -- the guard's rule, without a server ---------------------------------------------------------


def _headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in values.items()]


@pytest.mark.parametrize(
    ("host", "origin", "local", "allowed"),
    [
        ("127.0.0.1:2718", None, "127.0.0.1", ""),
        ("localhost:2718", "http://localhost:2718", "127.0.0.1", ""),
        ("[::1]:2718", "http://[::1]:2718", "::1", ""),
        ("192.0.2.20:2718", "http://192.0.2.20:2718", "192.0.2.20", ""),  # LAN judge, by IP
        ("judge.lan:2718", "http://judge.lan:2718", "192.0.2.20", "judge.lan"),
        ("judge.example.org", "https://judge.example.org", "127.0.0.1", "judge.example.org"),
    ],
)
def test_the_apps_own_host_and_pages_pass(host, origin, local, allowed) -> None:
    values = {"host": host} | ({"origin": origin} if origin else {})
    assert refusal(_headers(**values), local, frozenset(allowed.split(",")) - {""}) is None


@pytest.mark.parametrize(
    ("host", "origin", "expected"),
    [
        ("evil.example:2718", None, "refused the Host"),  # DNS rebinding
        ("127.0.0.1.evil.example:2718", None, "refused the Host"),
        ("", None, "refused the Host"),
        ("127.0.0.1:2718", "http://evil.example", "refused a request from the page"),
        ("127.0.0.1:2718", "http://127.0.0.1:8000", "refused a request from the page"),
        ("127.0.0.1:2718", "null", "refused a request from the page"),
        ("192.0.2.99:2718", None, "refused the Host"),  # an address it does not listen on
    ],
)
def test_foreign_hosts_and_pages_are_refused(host, origin, expected) -> None:
    values = {"host": host} | ({"origin": origin} if origin else {})
    assert expected in (refusal(_headers(**values), "127.0.0.1", frozenset()) or "")


def test_the_guard_is_installed_for_marimo() -> None:
    """marimo loads it from its middleware entry point group (pyproject.toml)."""
    from marimo._server.registry import MIDDLEWARE_REGISTRY

    loaded = MIDDLEWARE_REGISTRY.get_all()
    assert any(m.cls is HostOriginGuard for m in loaded), MIDDLEWARE_REGISTRY


# -- the judge app, as `make judge` starts it ---------------------------------------------------


def test_the_judge_app_wants_the_token_and_its_own_host_and_origin(tmp_path: Path) -> None:
    with marimo_app("notebooks/judge.py", tmp_path, "--experiment", "x") as (url, token):
        for address in (f"{url}/", f"{url}/?access_token=wrong-{token}"):
            answer = httpx.get(address)
            assert answer.status_code == 303 and "/auth/login" in answer.headers["location"]
        cookies = _session_cookie(url, token)
        assert httpx.get(f"{url}/", cookies=cookies).status_code == 200

        port = url.rsplit(":", 1)[1]
        rebound = httpx.get(f"{url}/", cookies=cookies, headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 403 and "refused the Host" in rebound.text

        own = asyncio.run(_websocket(url, cookies, url, None))
        foreign = asyncio.run(_websocket(url, cookies, "http://evil.example", None))
        local_page = asyncio.run(_websocket(url, cookies, "http://127.0.0.1:8000", None))
        assert (own, foreign, local_page) == ("open", "refused 403", "refused 403")


class _Attacker(BaseHTTPRequestHandler):
    """Another page on this machine: it tries to drive the judge app over its WebSocket."""

    def do_GET(self) -> None:  # noqa: N802
        target = self.server.target.replace("http://", "ws://")  # type: ignore[attr-defined]
        body = (
            "<script>const ws = new WebSocket('" + target + "/ws?session_id=s_attack');"
            "ws.onopen = () => { document.title = 'OPENED'; };"
            "ws.onerror = ws.onclose = () => { if (document.title !== 'OPENED') "
            "document.title = 'REFUSED'; };</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[object]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.browser
def test_the_judge_app_in_a_browser_refuses_strangers(tmp_path: Path) -> None:
    """Chromium: the app itself only with the token; then a page served from another local port
    (same site, so the judge's cookie goes along) and a rebound host name both get nothing."""
    with (
        marimo_app("notebooks/judge.py", tmp_path, "--experiment", "x") as (url, token),
        chromium("--host-resolver-rules=MAP rebind.example 127.0.0.1") as browser,
    ):
        context = browser.new_context()  # one profile: the judge's cookie reaches every tab
        page = context.new_page()
        page.goto(url)
        page.wait_for_url("**/auth/login**")
        assert page.get_by_text("Enter the experiment").count() == 0
        page.goto(f"{url}/?access_token={token}")
        page.get_by_text("Enter the experiment").first.wait_for(timeout=60_000)  # the app

        attacker = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
        attacker.target = url  # type: ignore[attr-defined]
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        try:
            other = context.new_page()
            other.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
            other.wait_for_function("document.title !== ''", timeout=120_000)
            assert other.title() == "REFUSED"
        finally:
            attacker.shutdown()
            attacker.server_close()

        port = url.rsplit(":", 1)[1]
        rebound = context.new_page()
        answer = rebound.goto(f"http://rebind.example:{port}/?access_token={token}")
        assert answer is not None and answer.status == 403
        assert "refused the Host" in rebound.content()


# -- the compare app: a crafted snapshot, and the report folder -------------------------------

HOSTILE_MODEL = '<img src=x onerror="window.pwned=1">![p](http://evil.example/m.png)'
HOSTILE_PROMPT = "[click me](http://evil.example/p) **v1**"
HOSTILE_JUDGE = "<b>judge</b> $x$"
HOSTILE_EXPERIMENT = 'tips <img src=x onerror="window.pwned=2"> [x](http://evil.example/e)'


def crafted_snapshot(directory: Path) -> Path:
    """The shipped sample with HTML and markdown in model, prompt, judge and experiment names."""
    shutil.copytree(SHIPPED_DATA / "sample", directory)
    cells = pl.read_parquet(directory / "cells.parquet")
    first_model, first_prompt = (
        sorted(set(cells["model"]))[0],
        sorted(set(cells["prompt_version"]))[0],
    )
    cells.with_columns(
        pl.col("model").replace(first_model, HOSTILE_MODEL),
        pl.col("prompt_version").replace(first_prompt, HOSTILE_PROMPT),
    ).write_parquet(directory / "cells.parquet")
    judgments = pl.read_parquet(directory / "judgments.parquet")
    first_judge = sorted(set(judgments["judge_id"]))[0]
    judgments.with_columns(pl.col("judge_id").replace(first_judge, HOSTILE_JUDGE)).write_parquet(
        directory / "judgments.parquet"
    )
    provenance = json.loads((directory / "provenance.json").read_text(encoding="utf-8"))
    provenance["experiment"] = HOSTILE_EXPERIMENT
    provenance["judges"] = {HOSTILE_JUDGE: {"kind": "<i>human</i>", "model": HOSTILE_MODEL}}
    (directory / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    return directory


@pytest.mark.browser
def test_a_crafted_snapshot_renders_as_text_in_the_compare_app(tmp_path: Path) -> None:
    snapshot = crafted_snapshot(tmp_path / "crafted")
    with (
        marimo_app("notebooks/compare.py", tmp_path, "--data", str(snapshot)) as (url, token),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{url}/?access_token={token}")
        page.get_by_text("Highest mean").first.wait_for(timeout=120_000)
        page.get_by_text("All comparisons of two cells on the rubric").first.wait_for(
            timeout=120_000
        )
        page.wait_for_timeout(2_000)  # let the tables and charts draw
        text = page.locator("body").inner_text()

        for name in (HOSTILE_EXPERIMENT, HOSTILE_JUDGE):
            assert name in text, f"{name!r} is not shown as text"
        assert HOSTILE_MODEL in text and HOSTILE_PROMPT in text  # verdicts and tables
        assert page.evaluate("window.pwned") is None, "an onerror handler ran"
        assert page.locator('img[src="x"], img[src*="evil.example"]').count() == 0
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert not [u for u in requested if urlsplit(u).hostname == "evil.example"]
        assert dialogs == []


@pytest.mark.browser
def test_the_report_folder_box_writes_only_under_the_output_folder(tmp_path: Path) -> None:
    out_root = tmp_path / "out"
    outside = tmp_path / "outside"
    with (
        marimo_app("notebooks/compare.py", tmp_path, "--out-root", str(out_root)) as (url, token),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/?access_token={token}")
        button = page.get_by_role("button", name="Write report.html")
        button.wait_for(timeout=120_000)
        box = page.get_by_role("textbox").last
        for typed in (str(outside), "../outside"):
            box.fill(typed)
            box.press("Enter")
            button.click()
            page.get_by_text("Not written").first.wait_for(timeout=60_000)
        assert not outside.exists(), "the report was written outside the output folder"

        box.fill("mine")
        box.press("Enter")
        button.click()
        page.get_by_text("leaderboard.csv").first.wait_for(timeout=120_000)
        assert (out_root / "mine" / "report.html").exists()


@pytest.mark.browser
def test_an_experiment_from_the_url_shows_as_text_in_the_judge_app(
    tmp_path: Path, mlflow_server: str
) -> None:
    """The judge app takes ?experiment= from the link; the refusal repeats it, as text."""
    from urllib.parse import quote

    with (
        marimo_app("notebooks/judge.py", tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server}) as (
            url,
            token,
        ),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{url}/?access_token={token}&judge=ana&experiment={quote(HOSTILE_EXPERIMENT)}")
        page.get_by_text("Cannot start").first.wait_for(timeout=120_000)
        callout = page.get_by_text("Cannot start").first.locator("xpath=..")
        assert HOSTILE_EXPERIMENT in callout.inner_text()  # (marimo renders in a shadow root)
        assert page.evaluate("window.pwned") is None
        assert page.locator('img[src="x"], a[href*="evil.example"]').count() == 0
        assert not [u for u in requested if urlsplit(u).hostname == "evil.example"]


@pytest.mark.browser
def test_service_addresses_and_refusals_show_as_text_in_the_collect_app(tmp_path: Path) -> None:
    """The collect app shows the backend it chose and why a run was refused: both carry text
    from the environment (OLLAMA_HOST, MLFLOW_TRACKING_URI), which must stay text."""
    ollama = (
        'http://127.0.0.1:9/<img src=x onerror="window.pwned=3">![p](http://evil.example/o.png)'
    )
    mlflow = "http://127.0.0.1:9/[click](http://evil.example/m)"
    env = {"OLLAMA_HOST": ollama, "MLFLOW_TRACKING_URI": mlflow}
    with (
        marimo_app("notebooks/collect.py", tmp_path, env=env) as (url, token),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{url}/?access_token={token}")
        note = page.get_by_text("using the embedded llama.cpp models").first
        note.wait_for(timeout=120_000)
        assert ollama in note.inner_text()  # (marimo renders in a shadow root: not in body's text)

        page.get_by_role("checkbox").first.click()
        page.get_by_role("button", name="Run 36 cells").click()  # 1 model x 3 prompts x 12
        refusal = page.get_by_text("Refused before loading any model").first
        refusal.wait_for(timeout=120_000)
        assert mlflow in refusal.locator("xpath=..").inner_text()

        assert page.evaluate("window.pwned") is None, "an onerror handler ran"
        assert page.locator('img[src="x"], img[src*="evil.example"]').count() == 0
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert not [u for u in requested if urlsplit(u).hostname == "evil.example"]
