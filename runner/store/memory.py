"""An in-memory :class:`~runner.store.base.ArtifactStore` for tests.

It follows the same contract as the file and S3 stores — key validation,
``ObjectNotFoundError`` on a missing key, atomic ``put_if_absent``, sorted
recursive listing, ``head`` without ``sha256`` — so core and controller tests
can run without a disk or a server and still mean something. It is not for
production: everything lives in one dict and dies with the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.errors import PermanentStoreError
from runner.store.base import DEFAULT_CHUNK_SIZE, BaseStore, ObjectInfo, not_found
from runner.store.keys import validate_key, validate_prefix

__all__ = ["MemoryStore"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class _Object:
    data: bytes
    content_type: str | None
    modified: datetime

    def info(self, key: str, *, with_sha: bool = False) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=len(self.data),
            etag=hashlib.md5(self.data, usedforsecurity=False).hexdigest(),
            sha256=hashlib.sha256(self.data).hexdigest() if with_sha else None,
            modified=self.modified,
        )


class MemoryStore(BaseStore):
    """Objects in a dict; ``uri`` is ``memory://<name>``."""

    def __init__(self, name: str | None = None) -> None:
        self.uri = f"memory://{name or f'store-{next(_ids)}'}"
        self._objects: dict[str, _Object] = {}
        self.closed = False

    def __repr__(self) -> str:
        return f"MemoryStore({self.uri!r}, objects={len(self._objects)})"

    @property
    def keys(self) -> list[str]:
        """Every key, sorted — handy in assertions."""
        return sorted(self._objects)

    def _put(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        obj = _Object(bytes(data), content_type, datetime.now(UTC))
        self._objects[key] = obj
        return obj.info(key, with_sha=True)

    def _get(self, key: str) -> _Object:
        try:
            return self._objects[validate_key(key)]
        except KeyError:
            raise not_found(self.uri, key) from None

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        validate_key(key)
        await asyncio.sleep(0)  # a real store yields here; so must the fake
        return self._put(key, data, content_type)

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        validate_key(key)
        source = Path(path)
        if not await asyncio.to_thread(source.is_file):
            raise PermanentStoreError(
                f"cannot upload {str(source)!r} to {key!r}: it is not a file; "
                "check the path (use put_dir for a directory)"
            )
        return self._put(key, await asyncio.to_thread(source.read_bytes))

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        validate_key(key)
        await asyncio.sleep(0)
        # Check and insert with no await in between: atomic on the event loop.
        if key in self._objects:
            return False
        self._put(key, data)
        return True

    async def get_bytes(self, key: str) -> bytes:
        await asyncio.sleep(0)
        return self._get(key).data

    async def get_file(self, key: str, dest: Path) -> ObjectInfo:
        obj = self._get(key)
        await asyncio.to_thread(_write_atomic, Path(dest), obj.data)
        return obj.info(key, with_sha=True)

    async def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        data = self._get(key).data
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def head(self, key: str) -> ObjectInfo | None:
        obj = self._objects.get(validate_key(key))
        return obj.info(key) if obj is not None else None

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        # Snapshot first: callers may delete while iterating (prune does).
        matches = sorted(
            ((k, o) for k, o in self._objects.items() if k.startswith(prefix)),
            key=lambda item: item[0],
        )
        for key, obj in matches:
            yield obj.info(key)

    async def delete(self, key: str) -> None:
        self._objects.pop(validate_key(key), None)

    async def close(self) -> None:
        self.closed = True


def _write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
