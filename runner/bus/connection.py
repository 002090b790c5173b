"""Open a NATS connection from :class:`runner.config.NatsSettings`.

Credentials (user/password, token, creds file, mutual TLS) come only from the
settings or the URL and never appear in logs or error messages: URLs are
shown without their user-info and any secret text is scrubbed from messages
that nats-py or the OS produce.

Once connected, the client reconnects forever (a controller must survive a
NATS restart); the *first* connect is bounded by ``connect_timeout_seconds``
so a wrong URL fails fast with a message that says what to fix.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import nats.errors
from nats.aio.client import Client

from runner.config import NatsSettings
from runner.errors import BusUnavailableError, ConfigError
from runner.privacy import redact_url

__all__ = ["open_connection", "redact_url", "scrub", "secrets_of", "tls_context"]

log = logging.getLogger(__name__)

_FIX = (
    "start it (`runner up` starts the embedded server) or point NATS_URL / "
    "RUNNER_NATS_URL at a running nats-server with JetStream enabled"
)


def secrets_of(settings: NatsSettings, url: str) -> list[str]:
    """Every secret string that must never be shown: passwords, tokens, URL user-info."""
    found = [s.get_secret_value() for s in (settings.password, settings.token) if s is not None]
    for part in url.split(","):
        parsed = urlsplit(part.strip() if "://" in part else f"nats://{part.strip()}")
        found += [p for p in (parsed.password, parsed.username) if p]
        found += [unquote(p) for p in (parsed.password, parsed.username) if p]
    # Longest first, so a secret containing another is scrubbed whole.
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def tls_context(settings: NatsSettings) -> ssl.SSLContext | None:
    """A client TLS context when a CA or client certificate is configured."""
    if not (settings.tls_ca or settings.tls_cert or settings.tls_key):
        return None
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError(
            "NATS mutual TLS needs both RUNNER_NATS_TLS_CERT and RUNNER_NATS_TLS_KEY; "
            "set both, or neither for server-only TLS"
        )
    for name, path in (("CA", settings.tls_ca), ("cert", settings.tls_cert)):
        if path is not None and not path.is_file():
            raise ConfigError(f"NATS TLS {name} file {path} does not exist: fix the path")
    if settings.tls_key is not None and not settings.tls_key.is_file():
        raise ConfigError(f"NATS TLS key file {settings.tls_key} does not exist: fix the path")
    try:
        context = ssl.create_default_context(
            cafile=str(settings.tls_ca) if settings.tls_ca else None
        )
        if settings.tls_cert and settings.tls_key:
            context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    except (ssl.SSLError, OSError) as exc:
        # The message names files, never their content.
        raise ConfigError(
            f"cannot load NATS TLS files (CA {settings.tls_ca}, cert {settings.tls_cert}): "
            f"{exc.__class__.__name__}: {exc.strerror or exc}; check they are PEM files"
        ) from exc
    return context


def _auth_options(settings: NatsSettings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.user:
        options["user"] = settings.user
        if settings.password is not None:
            options["password"] = settings.password.get_secret_value()
    if settings.token is not None:
        options["token"] = settings.token.get_secret_value()
    if settings.creds_file is not None:
        if not settings.creds_file.is_file():
            raise ConfigError(
                f"NATS creds file {settings.creds_file} does not exist: fix "
                "RUNNER_NATS_CREDS_FILE or unset it"
            )
        options["user_credentials"] = str(settings.creds_file)
    return options


class _Callbacks:
    """Connection event handlers; they log scrubbed text only."""

    def __init__(self, client: Client, url: str, secrets: list[str]) -> None:
        self.client = client
        self.url = url
        self.secrets = secrets
        self.connected = False
        self.last_error: BaseException | None = None
        self.auth_error: BaseException | None = None
        """Sticky: after a rejection the server drops the link, and the reset
        that follows must not hide why."""
        self.reconnecting = False
        """The link is down: errors of the reconnect attempts are not news."""

    def describe(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}", self.secrets)

    async def error(self, exc: Exception) -> None:
        self.last_error = exc
        # One line per outage ("disconnected, reconnecting"), not one per attempt.
        level = logging.WARNING if self.connected and not self.reconnecting else logging.DEBUG
        log.log(level, "NATS %s: %s", self.url, self.describe(exc))
        if not self.connected and _is_auth_failure(exc):
            self.auth_error = exc
            # Wrong credentials stay wrong: make nats-py's first-connect loop
            # give up now (it checks this option right after this callback)
            # instead of retrying until the timeout.
            self.client.options["allow_reconnect"] = False

    async def disconnected(self) -> None:
        # nats-py calls this on a deliberate close() too; only a lost link matters.
        if self.connected and not self.client.is_closed and not self.reconnecting:
            self.reconnecting = True
            log.warning("NATS %s: disconnected, reconnecting", self.url)

    async def reconnected(self) -> None:
        self.reconnecting = False
        log.warning("NATS %s: reconnected", self.url)


async def open_connection(settings: NatsSettings, url: str) -> Client:
    """Connect, or raise :class:`BusUnavailableError` / :class:`ConfigError`."""
    shown = redact_url(url)
    options = _auth_options(settings)
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    timeout = settings.connect_timeout_seconds
    client = Client()
    callbacks = _Callbacks(client, shown, secrets_of(settings, url))
    try:
        async with asyncio.timeout(timeout):
            await client.connect(
                servers=[part.strip() for part in url.split(",")],
                name="runner",
                connect_timeout=max(1, math.ceil(timeout)),
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,
                error_cb=callbacks.error,
                disconnected_cb=callbacks.disconnected,
                reconnected_cb=callbacks.reconnected,
                **options,
            )
    except ValueError as exc:
        await client.close()
        raise ConfigError(
            f"NATS URL {shown!r} is invalid ({callbacks.describe(exc)}): use nats://host:4222"
        ) from None
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await client.close()
        # ``from None``: the cause's own text may quote the URL with its password;
        # the scrubbed text of it is in our message instead.
        raise _connect_error(shown, timeout, callbacks, exc) from None
    callbacks.connected = True
    return client


def _is_auth_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


def _connect_error(
    shown: str, timeout: float, callbacks: _Callbacks, exc: BaseException
) -> Exception:
    cause = callbacks.auth_error or callbacks.last_error or exc
    why = callbacks.describe(cause)
    if _is_auth_failure(cause):
        return ConfigError(
            f"NATS at {shown} rejected the credentials ({why}): check RUNNER_NATS_USER / "
            "RUNNER_NATS_PASSWORD, RUNNER_NATS_TOKEN or RUNNER_NATS_CREDS_FILE"
        )
    return BusUnavailableError(
        f"cannot connect to NATS at {shown} within {timeout:g}s ({why}): {_FIX}"
    )
