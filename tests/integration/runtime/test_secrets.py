"""Credentials never land in events, run state, the store, logs or request files.

Plants a NATS password and an S3 secret key, runs a succeeding and a failing
pipeline, then greps everything the runs wrote.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from runner.api import submit
from runner.bus import EmbeddedNats
from runner.config import NatsSettings, Settings
from runner.controller.states import decode_state
from runner.core import RunStatus
from runner.local import LocalStack
from tests.integration.runtime.pipelines import ETL, FAULTS

pytestmark = pytest.mark.integration

NATS_SECRET = "planted-nats-password-7f3a9c"
S3_SECRET = "planted-s3-secret-key-51be02"


@pytest.fixture
async def secured(
    tmp_path: Path, s3_store_uri: str, s3_settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[LocalStack, str]]:  # type: ignore[no-untyped-def]
    server = EmbeddedNats(tmp_path / "nats", user="runner", password=NATS_SECRET)
    url = await server.start()
    # Steps inherit credentials from the environment, as they would from a Secret.
    monkeypatch.setenv("RUNNER_NATS_USER", "runner")
    monkeypatch.setenv("RUNNER_NATS_PASSWORD", NATS_SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    settings = Settings(
        home=tmp_path / "home",
        nats=NatsSettings(url=url),
        storage=s3_settings.model_copy(update={"uri": s3_store_uri}),
    )
    try:
        async with LocalStack(settings, controller=True) as stack:
            yield stack, url
    finally:
        await server.stop()


async def _stream_bytes(url: str) -> list[bytes]:
    client = await nats.connect(url, user="runner", password=NATS_SECRET)
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


async def test_no_credential_is_written_anywhere(
    secured: tuple[LocalStack, str], tmp_path: Path, write_pipeline
) -> None:
    stack, url = secured
    for source, func in ((ETL, "etl"), (FAULTS, "failing")):
        loaded = write_pipeline(source, func)
        handle = await submit(
            loaded.pipeline, {"log_dir": ""}, bus=stack.bus, store=stack.store,
            source_root=loaded.source_root,
        )  # fmt: skip
        state = await handle.wait(timeout=120)
        assert state.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)

    written: dict[str, bytes] = {}
    for i, blob in enumerate(await _stream_bytes(url)):
        written[f"stream message {i}"] = blob
    for key in await stack.bus.kv_keys():
        entry = await stack.bus.kv_get(key)
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
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file() and "jetstream" not in path.parts:
            written[f"file {path}"] = path.read_bytes()

    assert any(k.startswith("object runs/") for k in written), "nothing was checked"
    assert any(k.startswith("stream message") for k in written)
    assert any("/logs/" in k for k in written), "step logs were not checked"
    assert any(k.endswith("request.json") for k in written), "step requests were not checked"
    for where, blob in written.items():
        for secret in (NATS_SECRET, S3_SECRET):
            assert secret.encode() not in blob, f"{secret} leaked into {where}"
