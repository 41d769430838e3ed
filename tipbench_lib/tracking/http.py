"""The HTTP edge of the MLflow client: credentials, retries, and errors a person can act on.

MLflow answers most failures in JSON, but not all: the Host-header check (MLflow >= 3.5),
authentication and unknown routes answer plain text or HTML. Every answer is turned into either
parsed JSON or a :class:`TrackingError` that says what to change, never a JSON decode traceback.
Credentials come only from the environment and are never put in a message, log line or repr.
They go only to the server the user named in ``MLFLOW_TRACKING_URI`` (:func:`auth_for`): never to
tipbench's embedded server, whose address is read from a file, nor to any other URL.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tipbench_lib.core.errors import RetryableError, TrackingError

log = logging.getLogger("tipbench_lib.tracking")

CREDENTIAL_HELP = (
    "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (basic auth) or "
    "MLFLOW_TRACKING_TOKEN (bearer token) in the environment"
)


class MlflowHttpError(TrackingError):
    """MLflow answered with an error; ``status`` and ``error_code`` let callers branch on it."""

    def __init__(self, message: str, status: int, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class MlflowServerError(MlflowHttpError, RetryableError):
    """MLflow answered 5xx, after the retries: the server's trouble, so a rerun may succeed."""


class MlflowUnavailableError(TrackingError, RetryableError):
    """No answer from MLflow at all (refused, reset, timed out): a transport failure (exit 3)."""


def _origin(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port (default filled in) and path: what makes two URLs the same server."""
    parsed = httpx.URL(url.strip())
    return (
        parsed.scheme,
        parsed.host.lower(),
        parsed.port or {"http": 80, "https": 443}.get(parsed.scheme),
        parsed.path.rstrip("/"),
    )


def auth_for(base_url: str) -> httpx.Auth | None:
    """The environment's credentials when ``base_url`` is the user's MLFLOW_TRACKING_URI, else None.

    Credentials in the environment belong to the server the user configured; sending them to
    any other address (e.g. one named in a file in the tipbench home) would hand them to
    whoever wrote that address.
    """
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not configured:
        return None
    try:
        same = _origin(split_userinfo(configured)[0]) == _origin(base_url)
    except httpx.InvalidURL:
        return None
    return auth_from_env() if same else None


def auth_from_env() -> httpx.Auth | None:
    """Basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD, else a bearer MLFLOW_TRACKING_TOKEN."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        return httpx.BasicAuth(user, password)
    if token:
        return _BearerAuth(token)
    return None


def auth_kind(auth: httpx.Auth | None) -> str:
    """What a repr may say about the credentials: their kind, never their value."""
    if auth is None:
        return "none"
    if isinstance(auth, httpx.BasicAuth):
        return "basic"
    return "token" if isinstance(auth, _BearerAuth) else "custom"


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def split_userinfo(base_url: str) -> tuple[str, httpx.Auth | None]:
    """``http://user:pw@host`` works with curl; keep it working but out of every message."""
    url = httpx.URL(base_url)
    if not url.userinfo:
        return str(url).rstrip("/"), None
    auth = httpx.BasicAuth(url.username, url.password)
    return str(url.copy_with(username=None, password=None)).rstrip("/"), auth


def _retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500


def error_for(response: httpx.Response, base_url: str) -> TrackingError:
    """The exception for a non-2xx answer, worded for the person who has to fix it."""
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    text = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    kind = MlflowServerError if status >= 500 else MlflowHttpError
    if isinstance(body, dict) and "error_code" in body:
        return kind(
            f"MLflow at {base_url} refused {where}: {body['error_code']}: "
            f"{str(body.get('message', ''))[:500]}",
            status,
            body["error_code"],
        )
    if status == 401:
        return MlflowHttpError(
            f"MLflow at {base_url} answered 401 Unauthorized to {where}: the server requires "
            f"credentials; {CREDENTIAL_HELP}. Currently set: {_credential_names()}.",
            status,
        )
    if status == 403 and "host" in text.lower():
        host = response.request.headers.get("host", "?")
        return MlflowHttpError(
            f"MLflow at {base_url} refused the Host header {host!r} (403: {text[:200]!r}). "
            f"Restart the server with --allowed-hosts including {host.split(':')[0]!r} "
            f"(e.g. --allowed-hosts '{host}'), or reach it under a host name it allows.",
            status,
        )
    if status == 403:
        return MlflowHttpError(
            f"MLflow at {base_url} answered 403 Forbidden to {where} ({text[:200]!r}); the "
            f"credentials lack permission: {CREDENTIAL_HELP} for a user with access.",
            status,
        )
    hint = (
        " Is MLFLOW_TRACKING_URI the address of an MLflow (>= 3.5) tracking server?"
        if status == 404
        else ""
    )
    return kind(
        f"MLflow at {base_url} answered {status} with a non-JSON body to {where}: "
        f"{text[:200]!r}.{hint}",
        status,
    )


def _credential_names() -> str:
    names = [
        name
        for name in (
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "MLFLOW_TRACKING_TOKEN",
        )
        if os.environ.get(name)
    ]
    return ", ".join(names) if names else "none of them"


def server_down(base_url: str, err: Exception) -> TrackingError:
    return MlflowUnavailableError(
        f"no MLflow server answers at {base_url} ({type(err).__name__}). Start one "
        f"(`mlflow server --host 127.0.0.1 --port {httpx.URL(base_url).port or 5000}`, or "
        f"`tipbench mlflow-ui`), or unset MLFLOW_TRACKING_URI so tipbench "
        f"starts its embedded server."
    )


R = TypeVar("R")


def send_with_retries(
    send: Callable[[], R],
    *,
    base_url: str,
    what: str,
    retries: int,
    backoff: float,
) -> R:
    """Retry connection errors and 5xx with exponential backoff; return any other answer.

    ``send`` returns a response (or what it read from one); only a response can be a 5xx.
    A retried POST may have reached the server before failing; MLflow's run calls are safe to
    repeat except metric history, which can gain a duplicate point.
    """
    attempt = 0
    while True:
        try:
            response = send()
        except httpx.TransportError as err:
            if attempt >= retries:
                raise server_down(base_url, err) from None
            reason = type(err).__name__
        else:
            retryable = isinstance(response, httpx.Response) and _retryable(response)
            if not retryable or attempt >= retries:
                return response
            assert isinstance(response, httpx.Response)
            reason = f"HTTP {response.status_code}"
        delay = backoff * 2**attempt
        attempt += 1
        log.warning(
            "MLflow %s failed (%s); retry %d/%d in %.2f s", what, reason, attempt, retries, delay
        )
        time.sleep(delay)


def json_or_error(response: httpx.Response, base_url: str) -> dict[str, Any]:
    if response.is_success:
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise error_for(response, base_url) from None
        if isinstance(data, dict):
            return data
    raise error_for(response, base_url)
