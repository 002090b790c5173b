"""Connection helpers: URL redaction, secret scrubbing, TLS context."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from runner.bus.connection import redact_url, scrub, secrets_of, tls_context
from runner.config import NatsSettings
from runner.errors import ConfigError


def settings(**values: object) -> NatsSettings:
    base: dict[str, object] = {"url": None, "user": None, "password": None, "token": None}
    base.update(values)
    return NatsSettings(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://u:p@host:4222", "nats://host:4222"),
        ("nats://host:4222", "nats://host:4222"),
        ("tls://tok@host", "tls://host"),
        ("u:p@host:4222", "host:4222"),
        ("nats://a:x@h1:4222, nats://b:y@h2:4222", "nats://h1:4222,nats://h2:4222"),
        ("nats://u:p@ss@host:1", "nats://host:1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secrets_are_collected_and_scrubbed() -> None:
    s = settings(password="pw-1", token="tok-2")
    secrets = secrets_of(s, "nats://bob:p%40ss@host:4222")
    text = "failed for bob with pw-1, tok-2 and p@ss / p%40ss"
    assert scrub(text, secrets) == "failed for *** with ***, *** and *** / ***"


def test_no_tls_without_tls_settings() -> None:
    assert tls_context(settings()) is None


def test_tls_cert_without_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(
        ConfigError, match="needs both RUNNER_NATS_TLS_CERT and RUNNER_NATS_TLS_KEY"
    ):
        tls_context(settings(tls_cert=cert))


def test_missing_tls_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CA file .*missing.pem does not exist"):
        tls_context(settings(tls_ca=tmp_path / "missing.pem"))


def test_garbage_tls_file_is_a_config_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with pytest.raises(ConfigError, match="check they are PEM files"):
        tls_context(settings(tls_ca=ca))


def test_mutual_tls_context_loads(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = tls_context(settings(tls_ca=cert, tls_cert=cert, tls_key=key))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
