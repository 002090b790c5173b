"""Credentials never land in events, run state, the store, logs, request files or CLI output.

Plants a NATS password — in the URL (``nats://user:pw@host``) or beside a bare
URL (``RUNNER_NATS_PASSWORD``) — and an S3 secret key, runs pipelines, then
greps everything the runs wrote and everything the CLI printed. Also checks
that what a run leaves under the home is the owner's only (no group/other
permission bits).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from runner.api import submit
from runner.bus import EmbeddedNats
from runner.config import NatsSettings, Settings
from runner.core import RunStatus, StepStatus
from runner.records.states import decode_state
from runner.stack import Stack
from tests.e2e.conftest import Result, Workspace, clean_env
from tests.e2e.pipelines import SMALL
from tests.fixtures.nats import run_in_thread
from tests.integration.runtime.pipelines import ETL, FAULTS

pytestmark = pytest.mark.integration

NATS_USER = "runner-user"
NATS_SECRET = "planted-nats-password-7f3a9c"
S3_SECRET = "planted-s3-secret-key-51be02"
SECRETS = (NATS_SECRET, S3_SECRET)
FORMS = ("url", "env")
"""How the NATS credentials are given: in the URL, or as RUNNER_NATS_USER/PASSWORD."""


def nats_env(form: str, url: str) -> dict[str, str]:
    """The environment a user sets for ``form``; ``url`` is the server's bare URL."""
    if form == "url":
        host = url.partition("://")[2]
        return {"NATS_URL": f"nats://{NATS_USER}:{NATS_SECRET}@{host}"}
    return {"NATS_URL": url, "RUNNER_NATS_USER": NATS_USER, "RUNNER_NATS_PASSWORD": NATS_SECRET}


@pytest.fixture
def secured_server(tmp_path: Path) -> Iterator[str]:
    """A nats-server that takes only NATS_USER / NATS_SECRET; yields its bare URL."""
    # Started from another thread: a session of its own, stopped by PID below.
    server = EmbeddedNats(tmp_path / "nats", user=NATS_USER, password=NATS_SECRET)
    url = run_in_thread(server.start())
    try:
        yield url
    finally:
        run_in_thread(server.stop())


@pytest.fixture(params=FORMS)
async def secured(
    request: pytest.FixtureRequest,
    secured_server: str,
    tmp_path: Path,
    s3_store_uri: str,
    s3_settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
    for name in list(os.environ):
        if name.startswith(("RUNNER_NATS_", "NATS_")):
            monkeypatch.delenv(name)
    # As a user configures it: the environment (steps inherit it, as from a Secret).
    for name, value in nats_env(request.param, secured_server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    settings = Settings(
        home=tmp_path / "home",
        nats=NatsSettings(),
        storage=s3_settings.model_copy(update={"uri": s3_store_uri}),
    )
    async with Stack(settings, controller=True) as stack:
        yield stack


async def _stream_bytes(url: str) -> list[bytes]:
    client = await nats.connect(url, user=NATS_USER, password=NATS_SECRET)
    try:
        js = client.jetstream()
        blobs = []
        for stream in ("RUNNER_EVENTS", "RUNNER_DEADLETTER"):
            try:
                info = await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                blobs.append((msg.data or b"") + repr(msg.headers).encode())
        return blobs
    finally:
        await client.close()


def _files_under(root: Path) -> dict[str, bytes]:
    return {
        f"file {path}": path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "jetstream" not in path.parts
    }


def _assert_no_secret(written: dict[str, bytes]) -> None:
    for where, blob in written.items():
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} leaked into {where}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_no_credential_is_written_anywhere(
    secured: Stack,
    secured_server: str,
    tmp_path: Path,
    write_pipeline,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="runner")
    stack = secured
    # The steps reported (so they got the credentials): the steps that should
    # succeed did, and the run that should fail failed for its own reason.
    for source, func in ((ETL, "etl"), (FAULTS, "failing")):
        loaded = write_pipeline(source, func)
        handle = await submit(
            loaded.pipeline, {"log_dir": ""}, bus=stack.bus, store=stack.store,
            source_root=loaded.source_root,
        )  # fmt: skip
        state = await handle.wait(timeout=120)
        if func == "etl":
            assert state.status == RunStatus.SUCCEEDED, state
        else:
            assert state.status == RunStatus.FAILED, state
            assert state.steps["ok"].status == StepStatus.SUCCEEDED, state
            error = state.steps["boom"].error
            assert error is not None
            assert "column 'age' has -3" in error.message, error

    written: dict[str, bytes] = {}
    for i, blob in enumerate(await _stream_bytes(secured_server)):
        written[f"stream message {i}"] = blob
    states = await stack.bus.state_bucket()
    for key in await states.keys():
        entry = await states.get(key)
        assert entry is not None
        written[f"kv {key}"] = decode_state(entry[0]).model_dump_json().encode()
    async for info in stack.store.list(""):
        data = await stack.store.get_bytes(info.key)
        if info.key.endswith(".tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
                data += b"".join(
                    tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers()
                    if m.isfile()
                )
        written[f"object {info.key}"] = data
    home = tmp_path / "home"
    written.update(_files_under(home))
    written["log records"] = caplog.text.encode()

    assert any(k.startswith("object runs/") for k in written), "nothing was checked"
    assert any(k.startswith("stream message") for k in written)
    assert any("/logs/" in k for k in written), "step logs were not checked"
    requests = [p for p in home.rglob("request.json")]
    assert requests, "step requests were not checked"
    _assert_no_secret(written)
    # The step got the credentials all the same (it reported), and nothing
    # else can read what the run left: the home is 0700, requests are 0600.
    assert json.loads(requests[0].read_text())["nats_url"] == secured_server
    assert _mode(home) == 0o700
    assert {_mode(p) for p in requests} == {0o600}


@pytest.mark.e2e
@pytest.mark.parametrize("form", FORMS)
def test_cli_prints_and_writes_no_credential_and_files_are_private(
    form: str, secured_server: str, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws", env=clean_env(**nats_env(form, secured_server)))
    ws.root.mkdir()
    ws.write("small.py", SMALL)
    printed: dict[str, Result] = {}
    for args in (("config", "show"), ("config", "show", "--json")):
        printed[" ".join(args)] = ws.run(*args)
        assert printed[" ".join(args)].returncode == 0, printed[" ".join(args)]
    assert "nats://127.0.0.1:" in printed["config show"].stdout

    home = ws.root / "state"
    up = ws.start("up", "--home", "state", "--log-level", "DEBUG")
    try:
        up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
        # The one place that keeps the URL as given (for the other commands of
        # this home): owner-only.
        assert _mode(home / "up.json") == 0o600
        run = ws.run("run", "small.py", "--home", "state", "--json", "--log-level", "DEBUG")
        printed["run"] = run
        assert run.returncode == 0, run
        run_id = json.loads(run.stdout)["run_id"]
        printed["status"] = ws.run("status", run_id, "--home", "state")
        printed["logs"] = ws.run("logs", run_id, "make", "--home", "state")
        for name in ("status", "logs"):
            assert printed[name].returncode == 0, printed[name]
        assert "making 5 numbers" in printed["logs"].stdout, "the step's log was not checked"
    finally:
        code = up.interrupt()
        up.stop()  # closes its pipe
    assert code == 0, up.output
    printed_text = {
        f"runner {name}": f"{result.stdout}\n{result.stderr}".encode()
        for name, result in printed.items()
    }
    printed_text["runner up"] = up.output.encode()
    _assert_no_secret(printed_text)
    assert "nats://127.0.0.1:" in up.output, "the up banner was not checked"

    written = _files_under(home)
    written.update(
        {
            f"stream message {i}": b
            for i, b in enumerate(run_in_thread(_stream_bytes(secured_server)))
        }
    )
    assert any(k.endswith("request.json") for k in written), "step requests were not checked"
    assert any("/store/" in k for k in written), "the file store was not checked"
    assert any("/traces/" in k for k in written), "the trace files were not checked"
    _assert_no_secret(written)

    loose = {str(p): oct(_mode(p)) for p in [home, *home.rglob("*")] if _mode(p) & 0o077}
    assert not loose, f"group/other permission bits under the home: {loose}"
