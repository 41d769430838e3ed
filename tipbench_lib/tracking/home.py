"""What tipbench trusts in its home: a directory only its user can write, a loopback URL.

Every process that shares the embedded MLflow server learns where it listens from a file in the
tipbench home. Whoever can write that file decides where the runs (and, before this check, the
environment's MLflow credentials) are sent, so the file is believed only when

- the home belongs to the user running tipbench and nobody else can write it (a home that only
  others could read is tightened to mode 0700, since it also holds the judges' journals);
- the file itself is a regular file of that user, not a symlink;
- it names ``http://`` on a loopback address with a port, and nothing else.

Credentials never go to this URL in any case (see ``tracking.http.auth_for``); these checks keep
the runs themselves from going to another local user's server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import stat
from pathlib import Path

import httpx

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.journal import make_dirs

log = logging.getLogger(__name__)

URL_NAME = "mlflow-server.url"
MAX_URL_BYTES = 200
"""``http://[::1]:65535`` is 19 characters; anything near this bound is not a URL we wrote."""


class UntrustedHomeError(TrackingError):
    """The tipbench home, or a file in it, could have been written by someone else."""


def _fix_home_hint(home: Path) -> str:
    return (
        f"set TIPBENCH_HOME to a directory of your own (e.g. `mkdir -m 700 ~/tipbench`), "
        f"or `chmod 700 {home}` if it is yours"
    )


def private_home(home: Path, uid: int | None = None) -> Path:
    """Create ``home`` with mode 0700, or check that an existing one can be trusted.

    ``uid`` is the user who must own it (default: this process's); tests pass another one to
    see the refusal without root. A home others can only read is tightened, one they can write
    is refused: a file could already have been planted in it.
    """
    uid = os.getuid() if uid is None else uid
    home = Path(home)
    make_dirs(home)  # 0700 whatever the umask
    info = os.stat(home)
    if info.st_uid != uid:
        raise UntrustedHomeError(
            f"the tipbench home {home} belongs to user id {info.st_uid}, not to you "
            f"({uid}): its MLflow server address could have been written by that user; "
            + _fix_home_hint(home)
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise UntrustedHomeError(
            f"the tipbench home {home} can be written by other users (mode {mode:o}): "
            f"its MLflow server address could have been planted; " + _fix_home_hint(home)
        )
    if mode & 0o077:
        log.info("tightening %s from mode %o to 700 (it holds the journals)", home, mode)
        os.chmod(home, 0o700)
    return home


def loopback_url(text: str) -> str:
    """``text`` as ``http://<loopback>:<port>`` or raise: the only form the embedded server has."""
    try:
        url = httpx.URL(text.strip())
        address = ipaddress.ip_address(url.host)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UntrustedHomeError(f"not an http://127.0.0.1:<port> address: {text[:80]!r}") from exc
    if (
        url.scheme != "http"
        or url.userinfo
        or url.port is None
        or url.path not in ("", "/")
        or url.query
        or url.fragment
        or not address.is_loopback
    ):
        raise UntrustedHomeError(
            f"{text[:80]!r} is not a loopback address (http://127.0.0.1:<port>); the embedded "
            f"MLflow server never listens anywhere else"
        )
    return str(url).rstrip("/")


def read_server_url(home: Path, uid: int | None = None) -> str | None:
    """The embedded server's URL from ``home``, None while there is none; refuses a planted file."""
    uid = os.getuid() if uid is None else uid
    path = Path(home) / URL_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symlink
        raise UntrustedHomeError(
            f"{path} is not a plain file ({exc.strerror}); remove it. " + _fix_home_hint(home)
        ) from exc
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
            raise UntrustedHomeError(
                f"{path} is not a file of yours (owner id {info.st_uid}); remove it. "
                + _fix_home_hint(home)
            )
        data = file.read(MAX_URL_BYTES + 1)
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return None  # being written: the server writes it once it answers
    return loopback_url(text)


def write_server_url(home: Path, url: str) -> None:
    """Write the URL atomically (readers never see half of it), readable by this user only."""
    path = Path(home) / URL_NAME
    tmp = path.with_name(f".{URL_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(loopback_url(url))
    os.replace(tmp, path)


def remove_server_url(home: Path) -> None:
    with contextlib.suppress(OSError):
        (Path(home) / URL_NAME).unlink()


def open_private(path: Path, uid: int | None = None) -> int:
    """Open (creating) a lock file of this user's; refuse a symlink or someone else's file."""
    uid = os.getuid() if uid is None else uid
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise UntrustedHomeError(
            f"cannot open {path} ({exc.strerror}); remove it. " + _fix_home_hint(path.parent)
        ) from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
        os.close(fd)
        raise UntrustedHomeError(
            f"{path} is not a file of yours (owner id {info.st_uid}); remove it. "
            + _fix_home_hint(path.parent)
        )
    return fd
