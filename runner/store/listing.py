"""Listing whole buckets (ListObjectsV2) for bucket pollers, with raw keys.

:class:`~runner.store.s3.S3Store` lists only keys runner itself could have
written (validated names under its prefix); a poller watches buckets that
other programs fill, whose keys may hold spaces, ``=`` or anything else S3
allows. :class:`S3BucketLister` therefore returns keys exactly as S3 has
them; they are never used as local paths. :class:`MemoryBucketLister` is
the in-memory fake for unit tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from runner.config import StoreSettings
from runner.errors import RunnerError
from runner.store.keys import validate_bucket

__all__ = ["BucketLister", "ListedObject", "MemoryBucketLister", "S3BucketLister"]


@dataclass(frozen=True)
class ListedObject:
    bucket: str
    key: str
    size: int
    etag: str | None
    modified: datetime


class BucketLister(Protocol):
    def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ListedObject]:
        """Every object under ``prefix``, in key order."""
        ...

    async def close(self) -> None: ...


class S3BucketLister:
    """ListObjectsV2 over aioboto3; credentials from the standard AWS chain."""

    def __init__(self, settings: StoreSettings | None = None) -> None:
        self.settings = settings if settings is not None else StoreSettings()
        self.endpoint = self.settings.endpoint_url or "AWS S3"
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()

    async def _s3(self) -> Any:
        if self._client is None:
            import aioboto3  # heavy: only when a poller runs
            from botocore.config import Config

            endpoint = self.settings.endpoint_url
            config = Config(
                s3={"addressing_style": "path" if endpoint else "auto"},
                # A poll must not hang for minutes on a stalled connection.
                connect_timeout=10,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            client = aioboto3.Session().client(
                "s3", endpoint_url=endpoint, region_name=self.settings.region, config=config
            )
            self._client = await self._stack.enter_async_context(client)
        return self._client

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ListedObject]:
        from runner.store.s3_errors import translate

        validate_bucket(bucket)
        try:
            s3 = await self._s3()
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            async for page in pages:
                for item in page.get("Contents", []):
                    etag = item.get("ETag")
                    yield ListedObject(
                        bucket=bucket,
                        key=item["Key"],
                        size=int(item["Size"]),
                        etag=str(etag).strip('"') if etag else None,
                        modified=item["LastModified"],
                    )
        except RunnerError:
            raise
        except Exception as exc:
            raise translate(
                exc,
                endpoint=self.endpoint,
                bucket=bucket,
                store_uri=f"s3://{bucket}",
                op="list",
                key=prefix or None,
            ) from exc

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()


@dataclass
class MemoryBucketLister:
    """Buckets as dictionaries; ``put`` adds or replaces an object."""

    buckets: dict[str, dict[str, ListedObject]] = field(default_factory=dict)
    lists: int = 0

    def put(
        self, bucket: str, key: str, etag: str, size: int = 1, modified: datetime | None = None
    ) -> ListedObject:
        obj = ListedObject(bucket, key, size, etag, modified or datetime.now(UTC))
        self.buckets.setdefault(bucket, {})[key] = obj
        return obj

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ListedObject]:
        from runner.errors import PermanentStoreError

        self.lists += 1
        if bucket not in self.buckets:
            raise PermanentStoreError(f"bucket {bucket!r} at memory:// does not exist")
        for key in sorted(self.buckets[bucket]):
            if key.startswith(prefix):
                yield self.buckets[bucket][key]

    async def close(self) -> None:
        return None
