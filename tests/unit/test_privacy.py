"""URL credentials are redacted, steps get theirs by environment, home files are private."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli.app import app
from runner.config import NatsSettings, load_settings
from runner.errors import ConfigError
from runner.privacy import (
    has_credentials,
    make_private_dir,
    redact_url,
    split_credentials,
    url_credentials,
    write_private,
)
from runner.step.request import StepRequest
from tests.unit.executors.requests import make_request

SECRET = "pl4nted-pw"


def nats(**values: object) -> NatsSettings:
    """NatsSettings ignoring the test process's own NATS environment."""
    base: dict[str, object] = {
        "url": None,
        "user": None,
        "password": None,
        "token": None,
        "creds_file": None,
        "tls_ca": None,
        "tls_cert": None,
        "tls_key": None,
    }
    base.update(values)
    return NatsSettings(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://u:p@host:4222", "nats://host:4222"),
        ("http://u:p@collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://minio.local:9000", "https://minio.local:9000"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("tls://tok@host", "tls://host"),
        ("u:p@host:4222", "host:4222"),
        ("nats://a:x@h1:4222, nats://b:y@h2:4222", "nats://h1:4222,nats://h2:4222"),
        # An unencoded '/', '#' or '@' in a password: shortened, never shown.
        ("nats://u:p/a#b@c@host:1", "nats://host:1"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert has_credentials(url) is (url != shown and "@" in url)


@pytest.mark.parametrize(
    ("url", "credentials"),
    [
        ("nats://host:4222", (None, None)),
        ("nats://bob:p%40ss@host", ("bob", "p%40ss")),  # as nats-py sends it: not decoded
        ("nats://s3cr3t-token@host", ("s3cr3t-token", None)),
        ("bob:pw@host:4222", ("bob", "pw")),
        ("nats://h1,nats://bob:pw@h2", ("bob", "pw")),
    ],
)
def test_url_credentials(url: str, credentials: tuple[str | None, str | None]) -> None:
    assert url_credentials(url) == credentials


def test_split_credentials_keeps_urls_with_user_info_out_of_the_public_part() -> None:
    env = {
        "RUNNER_STORE": "s3://bucket/prefix",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://user:{SECRET}@collector:4318",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
        "PLAIN": "a@b",  # not a URL: public
    }
    public, secret = split_credentials(env)
    assert secret == {"OTEL_EXPORTER_OTLP_ENDPOINT": env["OTEL_EXPORTER_OTLP_ENDPOINT"]}
    assert public == {k: v for k, v in env.items() if k not in secret}


@pytest.mark.parametrize(
    ("settings", "url", "env"),
    [
        ({}, "nats://127.0.0.1:4222", {}),
        (
            {},
            f"nats://bob:{SECRET}@h:1",
            {"RUNNER_NATS_USER": "bob", "RUNNER_NATS_PASSWORD": SECRET},
        ),
        ({}, f"nats://{SECRET}@h:1", {"RUNNER_NATS_TOKEN": SECRET}),
        (
            {"user": "amy", "password": SECRET},
            "nats://bob:other@h:1",  # explicit credentials win, as in nats-py
            {"RUNNER_NATS_USER": "amy", "RUNNER_NATS_PASSWORD": SECRET},
        ),
        ({"token": SECRET}, "nats://h:1", {"RUNNER_NATS_TOKEN": SECRET}),
        (
            {"creds_file": "/etc/nats/user.creds", "tls_ca": "/etc/nats/ca.pem"},
            "nats://h:1",
            {
                "RUNNER_NATS_CREDS_FILE": "/etc/nats/user.creds",
                "RUNNER_NATS_TLS_CA": "/etc/nats/ca.pem",
            },
        ),
    ],
)
def test_nats_step_env_carries_what_the_step_needs_to_connect(
    settings: dict[str, object], url: str, env: dict[str, str]
) -> None:
    assert nats(**settings).step_env(url) == env


def test_nats_step_env_round_trips_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith(("RUNNER_NATS_", "NATS_")):
            monkeypatch.delenv(name)
    for name, value in nats().step_env(f"nats://bob:{SECRET}@h:1").items():
        monkeypatch.setenv(name, value)
    step = NatsSettings()  # what the step process reads
    assert step.user == "bob"
    assert step.password is not None
    assert step.password.get_secret_value() == SECRET


def test_step_request_holds_no_credentials(tmp_path: Path) -> None:
    fields = make_request().model_dump()
    fields["nats_url"] = f"nats://bob:{SECRET}@nats:4222"
    fields["env"] = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://u:{SECRET}@c:4318", "X": "1"}
    request = StepRequest.model_validate(fields)
    assert request.nats_url == "nats://nats:4222"
    assert request.env == {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "X": "1"}
    path = tmp_path / "request.json"
    path.write_text("old")
    path.chmod(0o644)
    request.write(path)
    assert SECRET not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StepRequest.read(path) == request
    assert SECRET not in json.dumps(StepRequest.from_env_value(request.to_env_value()).model_dump())


def test_write_private_and_make_private_dir(tmp_path: Path) -> None:
    home = make_private_dir(tmp_path / "a" / "home")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    target = home / "f.json"
    write_private(target, "one")
    write_private(target, "two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == ["f.json"], "no temporary file is left"
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    make_private_dir(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755, "an existing directory keeps its mode"
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        make_private_dir(tmp_path / "file")


def test_restrict_umask_keeps_a_stricter_one() -> None:
    # In a child process: the umask is the whole process's.
    code = (
        "import os, runner.privacy as p; os.umask(0o022); p.restrict_umask(); "
        "a = os.umask(0o277); p.restrict_umask(); b = os.umask(0); print(oct(a), oct(b))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["0o77", "0o277"]


def test_config_show_redacts_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("RUNNER_", "NATS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://key:{SECRET}@minio:9000")
    monkeypatch.setenv("RUNNER_NATS_PASSWORD", SECRET)
    runner = CliRunner()
    for args in ([], ["--json"]):
        result = runner.invoke(
            app, ["config", "show", *args, "--nats", f"nats://bob:{SECRET}@nats:4222"]
        )
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert "bob" not in result.output
        assert "nats://nats:4222" in result.output
        assert "http://minio:9000" in result.output
    plain = runner.invoke(app, ["config", "show", "--nats", f"bob:{SECRET}@nats:4222"])
    assert SECRET not in plain.output
    assert "nats:4222" in plain.output


def test_config_errors_do_not_echo_url_credentials(tmp_path: Path) -> None:
    (tmp_path / "runner.toml").write_text(
        f'[nats]\nconnect_timeout_seconds = "nats://bob:{SECRET}@h"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path)
    assert SECRET not in str(caught.value)
    assert "'connect_timeout_seconds' = 'nats://h'" in str(caught.value)
