"""Refuse requests to a marimo app that name a foreign host or come from a foreign page.

marimo (0.25) checks neither the ``Host`` header nor a WebSocket's ``Origin``: measured, a
request for ``Host: evil.example`` and a WebSocket opened with ``Origin: http://evil.example``
were both served, the latter straight into the running notebook. That leaves two doors open
even behind the token:

- DNS rebinding: a page on ``evil.example`` re-points its name at 127.0.0.1 and talks to the app
  as same-origin. Its requests say ``Host: evil.example``, a name this machine never serves.
- Cross-site WebSocket hijacking: any other page on this machine (another port is the same
  *site*, so the browser sends the app's session cookie) opens the app's WebSocket and drives
  the judging. Its handshake says ``Origin: http://127.0.0.1:<other port>``.

So this ASGI middleware accepts a request only when its ``Host`` names a loopback address, the
address the connection arrived on (a LAN judge typing the server's IP), or a name listed in
``TIPBENCH_ALLOWED_HOSTS`` (comma-separated: a LAN host name, a reverse proxy's public name); and,
when it carries an ``Origin``, only when that origin is the page's own (``http(s)://`` + the same
``Host``). Requests without an ``Origin`` (curl, same-origin navigation) are judged on the host.

marimo has no option for this, so the guard reaches every marimo server started from this
environment (``marimo run``, ``marimo edit``) through marimo's middleware entry point group
``marimo.server.asgi.middleware`` (see pyproject.toml); ``tests/test_app_exposure.py`` fails if a
marimo upgrade stops loading it. ``MARIMO_SERVER_ASGI_MIDDLEWARE_DENYLIST=tipbench-host-guard``
turns it off.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

ALLOWED_HOSTS_ENV = "TIPBENCH_ALLOWED_HOSTS"


def split_host(value: str) -> tuple[str, str]:
    """``host[:port]`` → (lower-case host without brackets, port or "")."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:2718
        host, _, rest = value[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_hosts(env: str | None = None) -> frozenset[str]:
    text = os.environ.get(ALLOWED_HOSTS_ENV, "") if env is None else env
    return frozenset(split_host(item)[0] for item in text.split(",") if item.strip())


def refusal(
    headers: Iterable[tuple[bytes, bytes]], local_address: str | None, allowed: frozenset[str]
) -> str | None:
    """Why a request must be refused, or None when its Host (and Origin) are this app's own."""
    found = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
    host_header = found.get("host", "")
    host, _ = split_host(host_header)
    own_address = local_address is not None and host == local_address.lower()
    if not host or not (_is_loopback(host) or own_address or host in allowed):
        return (
            f"tipbench refused the Host {host_header!r}: this app answers to a loopback "
            f"address, the address it listens on, or the names in {ALLOWED_HOSTS_ENV} "
            f"(e.g. {ALLOWED_HOSTS_ENV}=judge.lan)"
        )
    origin = found.get("origin")
    own_pages = (f"http://{host_header}".lower(), f"https://{host_header}".lower())
    if origin is not None and origin.lower() not in own_pages:
        return (
            f"tipbench refused a request from the page {origin!r}: only the app's own pages "
            f"(http://{host_header}) may talk to it"
        )
    return None


class HostOriginGuard:
    """Plain ASGI middleware (HTTP and WebSocket) applying :func:`refusal`."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.allowed = (
            configured_hosts()
            if allowed_hosts is None
            else frozenset(split_host(h)[0] for h in allowed_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        problem = refusal(scope.get("headers", []), server[0] if server else None, self.allowed)
        if problem is None:
            await self.app(scope, receive, send)
            return
        log.warning("%s (%s %s)", problem, scope["type"], scope.get("path", ""))
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting answers 403
            await send({"type": "websocket.close", "code": 1008})
            return
        await PlainTextResponse(problem + "\n", status_code=403)(scope, receive, send)


GUARD = Middleware(HostOriginGuard)
"""What marimo loads from the ``marimo.server.asgi.middleware`` entry point."""
