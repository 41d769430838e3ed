"""Shared set-up for the tests that drive Debian's headless Chromium through Playwright."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> str:
    """The browser's path; locally a clear skip when it is missing, in CI a failure.

    CI installs chromium in ``.ci/run``, so a missing browser there is a broken set-up, never a
    reason to pass without the browser tests.
    """
    if CHROMIUM.exists():
        return str(CHROMIUM)
    message = "/usr/bin/chromium is absent: `apt-get install chromium` (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
