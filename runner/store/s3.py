"""The S3 store (``s3://bucket/prefix``) over aioboto3, for AWS, MinIO or any
S3-compatible server.

One client per store, created lazily on first use and closed by
:meth:`S3Store.close`. Credentials come only from the standard AWS chain
(environment, profile, instance/pod role) — never from runner settings — so
they are never in our objects or messages. Uploads above the part size are
streamed as multipart uploads (aborted on any failure) and downloads are read
in chunks, so memory stays bounded by ``multipart_chunk_bytes`` whatever the
object size. ``put_if_absent`` is a conditional ``PutObject`` with
``If-None-Match: *``.

This module is imported only for ``s3://`` stores (see
:func:`runner.store.factory.open_store`): botocore is slow to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from runner.config import StoreSettings
from runner.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    RunnerError,
    TransientStoreError,
)
from runner.store.base import DEFAULT_CHUNK_SIZE, BaseStore, ObjectInfo
from runner.store.keys import validate_bucket, validate_key, validate_prefix
from runner.store.s3_errors import error_code, translate

__all__ = ["MIN_PART_BYTES", "S3Store"]

log = logging.getLogger(__name__)

MIN_PART_BYTES = 5 * 1024 * 1024
"""S3 rejects multipart parts smaller than this (except the last)."""
_MAX_PARTS = 10_000
_CONFLICT_RETRIES = 3


class S3Store(BaseStore):
    """Objects under ``prefix`` in ``bucket``; keys are relative to the prefix."""

    def __init__(
        self, bucket: str, prefix: str = "", settings: StoreSettings | None = None
    ) -> None:
        self.bucket = validate_bucket(bucket)
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.settings = settings if settings is not None else StoreSettings()
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint = self.settings.endpoint_url or "AWS S3"
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._warned_no_conditional = False

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint={self.endpoint!r})"

    # -- plumbing ----------------------------------------------------------

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._stack.enter_async_context(self._new_client())
        return self._client

    def _new_client(self) -> Any:
        endpoint = self.settings.endpoint_url
        config = Config(
            # Path-style URLs work with MinIO and bare IP endpoints; AWS picks itself.
            s3={"addressing_style": "path" if endpoint else "auto"},
            # Newer botocore sends CRC checksums by default, which many
            # S3-compatible servers reject; only send what an operation needs.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return aioboto3.Session().client(
            "s3", endpoint_url=endpoint, region_name=self.settings.region, config=config
        )

    @contextlib.contextmanager
    def _errors(self, op: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except RunnerError:
            raise
        except Exception as exc:
            raise self._translate(exc, op, key) from exc

    def _translate(self, exc: Exception, op: str, key: str | None) -> Exception:
        return translate(
            exc, endpoint=self.endpoint, bucket=self.bucket, store_uri=self.uri, op=op, key=key
        )

    def _part_size(self, size: int) -> int:
        # Never below S3's minimum; grow for huge files to stay under 10,000 parts.
        return max(self.settings.multipart_chunk_bytes, MIN_PART_BYTES, -(-size // _MAX_PARTS))

    # -- writes ------------------------------------------------------------

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        name = self._name(key)
        extra = {"ContentType": content_type} if content_type else {}
        s3 = await self._s3()
        with self._errors("put", key):
            resp = await s3.put_object(Bucket=self.bucket, Key=name, Body=data, **extra)
        return ObjectInfo(
            key=key, size=len(data), etag=_etag(resp), sha256=hashlib.sha256(data).hexdigest()
        )

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        name = self._name(key)
        source = Path(path)
        try:
            size = (await asyncio.to_thread(source.stat)).st_size
        except OSError as exc:
            raise PermanentStoreError(
                f"cannot upload {str(source)!r} to {key!r}: {exc.strerror}; check the path"
            ) from exc
        part = self._part_size(size)
        if size <= part:
            # One request; the whole file is at most one part in memory.
            data = await asyncio.to_thread(source.read_bytes)
            return await self.put_bytes(key, data)
        return await self._multipart(key, name, source, part)

    async def _multipart(self, key: str, name: str, source: Path, part: int) -> ObjectInfo:
        s3 = await self._s3()
        with self._errors("start multipart upload of", key):
            upload_id = (await s3.create_multipart_upload(Bucket=self.bucket, Key=name))["UploadId"]
        digest = hashlib.sha256()
        size = 0
        try:
            parts: list[dict[str, Any]] = []
            with open(source, "rb") as f:  # noqa: ASYNC230 - reads happen in a thread
                while chunk := await asyncio.to_thread(_read_hashing, f, part, digest):
                    size += len(chunk)
                    number = len(parts) + 1
                    with self._errors(f"upload part {number} of", key):
                        resp = await s3.upload_part(
                            Bucket=self.bucket,
                            Key=name,
                            PartNumber=number,
                            UploadId=upload_id,
                            Body=chunk,
                        )
                    parts.append({"ETag": resp["ETag"], "PartNumber": number})
                    del chunk  # drop the part before reading the next one
            with self._errors("complete multipart upload of", key):
                done = await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            # Includes cancellation: never leave billed, invisible parts behind.
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        return ObjectInfo(key=key, size=size, etag=_etag(done), sha256=digest.hexdigest())

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        name = self._name(key)
        for _ in range(_CONFLICT_RETRIES):
            created = await self._conditional_put(key, name, data)
            if created is not None:
                return created
        raise TransientStoreError(
            f"creating {key!r} in bucket {self.bucket!r} at {self.endpoint} kept conflicting "
            "with concurrent writes (ConditionalRequestConflict); try again"
        )

    async def _conditional_put(self, key: str, name: str, data: bytes) -> bool | None:
        """``True`` created, ``False`` existed, ``None`` a concurrent write is in
        flight (S3 answers 409 and asks for a retry)."""
        s3 = await self._s3()
        try:
            await s3.put_object(Bucket=self.bucket, Key=name, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            code, status = error_code(exc)
            if code == "PreconditionFailed" or status == 412:
                return False
            if code == "ConditionalRequestConflict" or status == 409:
                return None
            if code == "NotImplemented" or status == 501:
                return await self._head_then_put(key, data)
            raise self._translate(exc, "create", key) from exc
        except Exception as exc:
            raise self._translate(exc, "create", key) from exc
        return True

    async def _head_then_put(self, key: str, data: bytes) -> bool:
        """Fallback for servers without conditional writes: NOT atomic."""
        if not self._warned_no_conditional:
            self._warned_no_conditional = True
            log.warning(
                "S3 endpoint %s does not support conditional PutObject (If-None-Match); "
                "create-if-absent on bucket %r falls back to head-then-put, which two "
                "concurrent writers can both win",
                self.endpoint,
                self.bucket,
            )
        if await self.exists(key):
            return False
        await self.put_bytes(key, data)
        return True

    async def delete(self, key: str) -> None:
        name = self._name(key)
        s3 = await self._s3()
        with self._errors("delete", key):
            await s3.delete_object(Bucket=self.bucket, Key=name)

    # -- reads -------------------------------------------------------------

    async def get_bytes(self, key: str) -> bytes:
        chunks = [chunk async for chunk in self.iter_bytes(key)]
        return b"".join(chunks)

    async def get_file(self, key: str, dest: Path) -> ObjectInfo:
        dest = Path(dest)
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp = await asyncio.to_thread(tempfile.mkstemp, dir=dest.parent, prefix=".runner-tmp-")
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in self.iter_bytes(key, self._part_size(0)):
                    size += len(chunk)
                    await asyncio.to_thread(_write_hashing, f, chunk, digest)
                await asyncio.to_thread(os.fsync, f.fileno())
            await asyncio.to_thread(os.replace, tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return ObjectInfo(key=key, size=size, sha256=digest.hexdigest())

    async def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        name = self._name(key)
        s3 = await self._s3()
        with self._errors("get", key):
            resp = await s3.get_object(Bucket=self.bucket, Key=name)
        body = resp["Body"]
        async with body:
            while True:
                with self._errors("read", key):
                    chunk = await body.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    async def head(self, key: str) -> ObjectInfo | None:
        name = self._name(key)
        s3 = await self._s3()
        try:
            with self._errors("head", key):
                resp = await s3.head_object(Bucket=self.bucket, Key=name)
        except ObjectNotFoundError:
            return None
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            etag=_etag(resp),
            modified=resp.get("LastModified"),
        )

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        s3 = await self._s3()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root + prefix
        )
        with self._errors("list", prefix or "/"):
            async for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(root) :]
                    if not _is_key(key):
                        continue  # written by something else; not addressable here
                    yield ObjectInfo(
                        key=key,
                        size=int(item["Size"]),
                        etag=_etag(item),
                        modified=item.get("LastModified"),
                    )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._stack.aclose()
            self._stack = contextlib.AsyncExitStack()


def _etag(resp: dict[str, Any]) -> str | None:
    etag = resp.get("ETag")
    return str(etag).strip('"') if etag else None


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True


def _read_hashing(f: BinaryIO, size: int, digest: Any) -> bytes:
    chunk = f.read(size)
    digest.update(chunk)
    return chunk


def _write_hashing(f: BinaryIO, chunk: bytes, digest: Any) -> None:
    f.write(chunk)
    digest.update(chunk)
