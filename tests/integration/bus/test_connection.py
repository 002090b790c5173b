"""Connecting: clear errors for a wrong URL, and never a credential in them."""

from __future__ import annotations

import socket
import time

import pytest

from runner.bus import connect
from runner.errors import BusUnavailableError, ConfigError
from tests.fixtures.nats import NatsServer

pytestmark = pytest.mark.integration

PLANTED = "pl4nted-S3CRET-pw"
TOKEN = "pl4nted-T0KEN"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_wrong_url_names_the_url_without_credentials(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    port = closed_port()
    settings = nats_server.settings(
        user="alice", password=PLANTED, token=TOKEN, connect_timeout_seconds=0.5
    )
    started = time.monotonic()
    with pytest.raises(BusUnavailableError) as info:
        await connect(settings, f"nats://alice:{PLANTED}@127.0.0.1:{port}")
    assert time.monotonic() - started < 3.0
    text = str(info.value)
    assert f"nats://127.0.0.1:{port}" in text
    assert "runner up" in text
    assert "NATS_URL" in text
    assert "ConnectionRefusedError" in text
    for secret in (PLANTED, TOKEN, "alice:"):
        assert secret not in text
        assert secret not in caplog.text
    assert info.value.__cause__ is None  # the raw cause could quote the URL


async def test_connects_with_an_explicit_url(nats_server: NatsServer) -> None:
    bus = await connect(nats_server.settings(url=None), nats_server.url)
    try:
        assert bus.url == nats_server.url
    finally:
        await bus.close()
    await bus.close()  # idempotent


async def test_no_url_is_a_config_error(nats_server: NatsServer) -> None:
    with pytest.raises(ConfigError, match="no NATS URL: set NATS_URL"):
        await connect(nats_server.settings(url=None))


async def test_missing_creds_file_is_a_config_error(nats_server: NatsServer) -> None:
    settings = nats_server.settings(creds_file="/nonexistent/user.creds")
    with pytest.raises(ConfigError, match=r"creds file /nonexistent/user.creds does not exist"):
        await connect(settings)
