"""S3Store against a real S3-protocol server (moto): the shared contract,
conditional writes, multipart streaming and error translation."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runner.config import StoreSettings
from runner.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from runner.store import open_store
from runner.store.s3 import MIN_PART_BYTES, S3Store
from tests.unit.store.contract import StoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(s3_store_uri: str, s3_settings: StoreSettings) -> AsyncIterator[S3Store]:
    store = open_store(s3_store_uri, s3_settings)
    assert isinstance(store, S3Store)
    yield store
    await store.close()


class TestS3Store(StoreContract):
    """Every FileStore/MemoryStore behaviour holds on S3 too."""


async def test_objects_live_under_the_prefix(store: S3Store, s3_client: Any) -> None:
    await store.put_bytes("runs/r1/s/out", b"x")
    listed = s3_client.list_objects_v2(Bucket=store.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["store/runs/r1/s/out"]
    assert store.uri_for("runs/r1/s/out") == f"s3://{store.bucket}/store/runs/r1/s/out"


async def test_put_if_absent_is_a_conditional_put(store: S3Store, s3_client: Any) -> None:
    s3_client.put_object(Bucket=store.bucket, Key="store/k", Body=b"from elsewhere")
    assert await store.put_if_absent("k", b"mine") is False
    assert await store.get_bytes("k") == b"from elsewhere"


async def test_multipart_upload_and_download(
    s3_store_uri: str, s3_server: Any, s3_client: Any, tmp_path: Path
) -> None:
    settings = StoreSettings(
        endpoint_url=s3_server.endpoint_url, region=s3_server.region, multipart_chunk_bytes=1
    )
    store = open_store(s3_store_uri, settings)
    assert isinstance(store, S3Store)
    try:
        src = tmp_path / "big.bin"
        data = hashlib.sha256(b"seed").digest() * (MIN_PART_BYTES * 2 // 32 + 1000)
        src.write_bytes(data)
        put = await store.put_file("big", src)
        assert put.sha256 == hashlib.sha256(data).hexdigest()
        assert put.size == len(data)
        assert put.etag is not None
        assert put.etag.endswith("-3")  # three parts: the 1-byte setting is raised to 5 MiB
        got = await store.get_file("big", tmp_path / "out" / "big.bin")
        assert got.sha256 == put.sha256
        assert (tmp_path / "out" / "big.bin").read_bytes() == data
        uploads = s3_client.list_multipart_uploads(Bucket=store.bucket)
        assert uploads.get("Uploads", []) == []
    finally:
        await store.close()


async def test_failed_multipart_upload_is_aborted(
    store: S3Store, s3_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * (MIN_PART_BYTES * 2 + 10))
    client = await store._s3()
    calls = 0
    real_upload_part = client.upload_part

    async def flaky_upload_part(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionResetError("connection reset by peer")
        return await real_upload_part(**kwargs)

    monkeypatch.setattr(client, "upload_part", flaky_upload_part)
    with pytest.raises(TransientStoreError, match="upload part 2"):
        await store.put_file("big", src)
    assert s3_client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert not await store.exists("big")


async def test_missing_bucket_is_a_clear_permanent_error(
    s3_settings: StoreSettings, s3_server: Any
) -> None:
    store = open_store("s3://no-such-bucket-here/p", s3_settings)
    try:
        with pytest.raises(PermanentStoreError, match="create the bucket") as info:
            await store.put_bytes("k", b"x")
        assert "no-such-bucket-here" in str(info.value)
        assert s3_server.endpoint_url in str(info.value)
        with pytest.raises(PermanentStoreError, match="create the bucket"):
            await store.get_bytes("k")
        with pytest.raises(PermanentStoreError, match="create the bucket"):
            _ = [i async for i in store.list()]
    finally:
        await store.close()


async def test_unreachable_endpoint_is_transient_and_named(
    s3_server: Any, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the standard knob; keeps the test fast
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    store = open_store("s3://some-bucket/p", StoreSettings(endpoint_url=endpoint))
    try:
        for attempt in (store.get_bytes("k"), store.put_bytes("k", b"x"), store.head("k")):
            with pytest.raises(TransientStoreError) as info:
                await attempt
            assert endpoint in str(info.value)
            assert "some-bucket" in str(info.value)
    finally:
        await store.close()


async def test_secret_key_never_appears_in_errors(
    s3_server: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    secret = "PLANTED-secret-9f8e7d6c5b4a"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    errors: list[BaseException] = []
    for endpoint, uri in [
        (s3_server.endpoint_url, f"s3://{s3_bucket}/p"),
        (s3_server.endpoint_url, "s3://missing-bucket-x/p"),
        (f"http://127.0.0.1:{unused_tcp_port}", f"s3://{s3_bucket}/p"),
    ]:
        store = open_store(uri, StoreSettings(endpoint_url=endpoint))
        try:
            for op in (store.get_bytes("nope"), store.put_bytes("k", b"x")):
                try:
                    await op
                except StoreError as exc:
                    errors.append(exc)
        finally:
            await store.close()
    assert errors, "the scenarios above must fail"
    for error in errors:
        assert secret not in _chain_text(error)
        assert secret not in repr(vars(error))


async def test_not_found_is_object_not_found(store: S3Store) -> None:
    with pytest.raises(ObjectNotFoundError):
        await store.get_bytes("runs/none")


def _chain_text(exc: BaseException | None) -> str:
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc!s} {exc!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )
    return error


async def test_put_if_absent_falls_back_only_when_conditional_puts_are_unsupported(
    store: S3Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = await store._s3()
    real_put = client.put_object

    async def no_conditionals(**kwargs: Any) -> Any:
        if "IfNoneMatch" in kwargs:
            raise _client_error("NotImplemented", 501)
        return await real_put(**kwargs)

    monkeypatch.setattr(client, "put_object", no_conditionals)
    assert await store.put_if_absent("k", b"one") is True
    assert await store.put_if_absent("k", b"two") is False
    assert await store.get_bytes("k") == b"one"
    assert "head-then-put" in caplog.text


async def test_put_if_absent_retries_a_conflict(
    store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await store._s3()
    real_put = client.put_object
    conflicts = iter([True, False])

    async def conflict_once(**kwargs: Any) -> Any:
        if next(conflicts, False):
            raise _client_error("ConditionalRequestConflict", 409)
        return await real_put(**kwargs)

    monkeypatch.setattr(client, "put_object", conflict_once)
    assert await store.put_if_absent("k", b"one") is True
    assert await store.get_bytes("k") == b"one"
