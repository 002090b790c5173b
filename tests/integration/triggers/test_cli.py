"""``runner trigger`` and ``runner sink`` against a real nats-server (in process)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from typer.testing import CliRunner

from runner.cli.app import app
from tests.fixtures.nats import NatsServer, delete_all_streams
from tests.unit.triggers.helpers import FIXTURE, FIXTURE_URI

pytestmark = pytest.mark.integration

PIPELINE = """
from runner import component, pipeline


@component
def count_bytes(uri: str, size: int) -> str:
    return f"{uri}: {size} bytes"


@pipeline(name="ingest")
def ingest(uri: str, size: int = 0):
    count_bytes(uri=uri, size=size)
"""


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The commands configure the ``runner`` logger for a terminal; undo it for the
    tests that run after this one in the same process."""
    logger = logging.getLogger("runner")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
async def clean_server(jetstream: JetStreamContext) -> AsyncIterator[None]:
    """The CLI makes runner's own streams (RUNNER_EVENTS...): start and end without any."""
    await delete_all_streams(jetstream)
    yield
    await delete_all_streams(jetstream)


@pytest.mark.usefixtures("clean_server")
def test_trigger_and_sink_commands(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NATS_URL", "RUNNER_NATS_URL", "RUNNER_STORE", "RUNNER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "cli_ingest.py").write_text(PIPELINE)
    flags = [
        "--nats",
        nats_server.url,
        "--home",
        str(tmp_path / "home"),
    ]
    store = ["--store", (tmp_path / "store").as_uri()]
    cli = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = cli.invoke(app, [*args, *flags])
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run(
        "trigger", "add", "incoming", "--pipeline", str(src / "cli_ingest.py"),
        "--bucket", "training-data", "--prefix", "incoming/",
        "-p", "uri={{ object.uri }}", "-p", "size={{ object.size }}", *store,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("added trigger incoming: s3://training-data/incoming/* via ")

    code, _, err = run(
        "trigger", "add", "incoming", "--pipeline", str(src / "cli_ingest.py"),
        "--bucket", "training-data", "-p", "uri=x", *store,
    )  # fmt: skip
    assert code == 2
    assert "already exists" in err

    code, _, err = run(
        "trigger", "add", "other", "--pipeline", str(src / "cli_ingest.py"),
        "--bucket", "training-data", "-p", "uri={{ object.url }}", *store,
    )  # fmt: skip
    assert code == 2
    assert "unknown variable 'object.url'" in err

    code, _, err = run(
        "trigger", "add", "other", "--pipeline", str(src / "cli_ingest.py"),
        "--bucket", "training-data", "-p", "uri=x", "--poll", "--interval", "0", *store,
    )  # fmt: skip
    assert code == 2
    assert "interval_seconds 0.0 is invalid" in err

    upload = ["pipeline", "upload", str(src / "cli_ingest.py"), "--version", "v1", *store]
    uploaded = cli.invoke(app, upload)  # only the store: no --nats
    assert uploaded.exit_code == 0, uploaded.stderr
    code, out, err = run(
        "trigger", "add", "versioned", "--pipeline", "ingest@v1", "--bucket", "training-data",
        "-p", "uri={{ object.uri }}", *store,
    )  # fmt: skip
    assert code == 0, err
    assert "-> pipeline ingest (registry:ingest@v1)" in out
    code, _, err = run(
        "trigger", "add", "missing", "--pipeline", "ingest@v9", "--bucket", "training-data",
        "-p", "uri=x", *store,
    )  # fmt: skip
    assert code == 2
    assert "has no version 'v9'" in err

    code, out, _ = run("trigger", "test", "incoming", "--notification", str(FIXTURE), "--json")
    assert code == 0
    (shown,) = json.loads(out)["objects"]
    assert shown["matches"] is True
    assert shown["parameters"] == {"uri": FIXTURE_URI, "size": 48213}
    assert shown["already_requested"] is False

    assert run("trigger", "disable", "incoming")[0] == 0
    code, out, _ = run("trigger", "ls", "--json")
    listed = {t["name"]: t for t in json.loads(out)}
    assert sorted(listed) == ["incoming", "versioned"]
    assert listed["incoming"]["enabled"] is False
    assert run("trigger", "rm", "versioned")[0] == 0

    code, out, err = run("sink", "add", "hook", "--url", "http://127.0.0.1:1/x", "--type", "run")
    assert code == 0, err
    assert "runner.events.*.*.run.* -> http://127.0.0.1:1/x" in out
    code, _, err = run("sink", "add", "bad", "--url", "ftp://x")
    assert code == 2
    assert "is not an http:// or https:// URL" in err
    code, out, _ = run("sink", "ls")
    assert "hook" in out

    assert run("trigger", "rm", "incoming")[0] == 0
    assert run("sink", "rm", "hook")[0] == 0
    code, _, err = run("trigger", "rm", "incoming")
    assert code == 2
    assert "no trigger named 'incoming'" in err
    code, _, err = run("trigger", "ls")
    assert "no triggers" in err
