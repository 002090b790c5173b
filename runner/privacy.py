"""What stays private: credentials inside URLs, and the files under the home.

A URL may carry credentials in its user-info (``nats://user:pw@host``,
``http://user:pw@collector:4318``). :func:`redact_url` drops it wherever a
URL is shown (CLI output, log lines, error messages) or stored (step
requests, Job specs); the credentials reach a step through its process
environment instead (:func:`split_credentials`).

Everything runner writes under its home is the owner's only: directories
0700, files 0600. Entry points (the ``runner`` CLI, ``python -m
runner.step``, ``python -m runner.service``) call :func:`restrict_umask`, so
every file they and their children create (nats-server's data, logs,
traces, the file store) gets those modes; library code that writes a
sensitive file (a step request) or creates the home sets the mode
explicitly, since it may run in a process that never set the umask.

This module imports nothing from runner: the settings, the bus and the
executors all use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "PRIVATE_UMASK",
    "has_credentials",
    "make_private_dir",
    "redact_url",
    "restrict_umask",
    "split_credentials",
    "url_credentials",
    "write_private",
]

PRIVATE_UMASK = 0o077
"""No group or other bits on anything a runner process creates."""
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


# --- credentials in URLs -----------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` without user-info: ``nats://user:pw@h1:4222,nats://h2`` -> ``nats://h1:4222,nats://h2``.

    Each comma-separated part loses everything up to its last ``@`` after the
    scheme (a password may hold an unencoded ``/`` or ``#``: better a
    shortened path than a shown password). Text with no ``@`` is returned
    unchanged.
    """
    if "@" not in url:
        return url
    return ",".join(_redact_one(part.strip()) for part in url.split(","))


def _redact_one(url: str) -> str:
    scheme, sep, rest = url.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def has_credentials(url: str) -> bool:
    """Whether any part of ``url`` carries user-info (``user[:password]@``)."""
    return redact_url(url) != url


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """``(user, password)`` of the first part of ``url`` that carries user-info.

    As nats-py reads them (not percent-decoded); a user with no password is a
    token (``nats://s3cr3t@host``). ``(None, None)`` when no part has any.
    """
    for part in url.split(","):
        part = part.strip()
        if "@" not in part:
            continue
        parsed = urlsplit(part if "://" in part else f"nats://{part}")
        if parsed.username is not None:
            return parsed.username, parsed.password
    return None, None


def split_credentials(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(public, secret)``: the entries of ``env`` whose value is a URL with user-info are secret.

    ``public`` may be written down (a request file, a Job spec); ``secret``
    only goes into a process's environment. A secret entry is left out of
    ``public`` rather than redacted, so that a value the step gets otherwise
    (a Kubernetes Secret through ``envFrom``) is not overridden.
    """
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in env.items():
        (secret if "://" in value and has_credentials(value) else public)[name] = value
    return public, secret


# --- files under the home ----------------------------------------------------


def restrict_umask() -> int:
    """Make every file this process (and its children) creates owner-only.

    Adds :data:`PRIVATE_UMASK` to the current umask (a stricter one stays);
    returns the previous umask. For entry points only: the umask is the
    whole process's.
    """
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; an existing one keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)  # the umask can only make it stricter
    except FileExistsError:
        if not path.is_dir():
            raise
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from its creation on (atomic: a reader
    sees the old content or the new, never a part)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), PRIVATE_FILE_MODE)  # a leftover tmp file keeps its mode otherwise
        fh.write(text)
    tmp.replace(path)
