"""The artifact store interface every adapter implements (DESIGN §7).

:class:`ArtifactStore` is the protocol the controller, the step and the cache
code against; :class:`ObjectInfo` is what the store knows about one object.
:class:`BaseStore` holds the behaviour that is the same for every backend
(JSON helpers, ``exists``, URI <-> key mapping) so the file, S3 and in-memory
stores only implement the byte-moving primitives and cannot drift apart.

Keys are relative ``/``-separated paths checked by :mod:`runner.store.keys`.
``head`` never computes ``sha256`` (that would read the whole object); only
the calls that stream the bytes anyway (``put_*``, ``get_file``) fill it in.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runner.errors import ObjectNotFoundError, PermanentStoreError
from runner.spec.models import canonical_json
from runner.store.keys import validate_key

__all__ = ["DEFAULT_CHUNK_SIZE", "ArtifactStore", "BaseStore", "ObjectInfo"]

DEFAULT_CHUNK_SIZE = 1 << 20
"""Read/write granularity of streaming calls: 1 MiB."""


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one object."""

    key: str
    size: int
    etag: str | None = None
    """Backend version tag (S3 ETag without quotes); ``None`` for files."""
    sha256: str | None = None
    """Hex sha256 of the content, when the call streamed the bytes."""
    modified: datetime | None = None


@runtime_checkable
class ArtifactStore(Protocol):
    """Async object store with relative keys under one root URI."""

    uri: str
    """Root of the store, e.g. ``file:///abs/root`` or ``s3://bucket/prefix``."""

    def uri_for(self, key: str) -> str:
        """The full URI of ``key``."""
        ...

    def key_for(self, uri: str) -> str:
        """The key of a full URI; :class:`StoreError` if not under this root."""
        ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo: ...

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        """Upload a file in bounded memory; the result carries its sha256."""
        ...

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        """Atomically create ``key``: ``True`` if created, ``False`` if it existed."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """The content; :class:`ObjectNotFoundError` if missing."""
        ...

    async def get_file(self, key: str, dest: Path) -> ObjectInfo:
        """Download to ``dest`` atomically (temp + rename), creating parents."""
        ...

    def iter_bytes(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the content in chunks of at most ``chunk_size`` bytes."""
        ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def exists(self, key: str) -> bool: ...

    async def get_json(self, key: str) -> Any:
        """Parsed JSON; :class:`ObjectNotFoundError`, or :class:`StoreError` if corrupt."""
        ...

    async def put_json(self, key: str, value: Any) -> ObjectInfo: ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, recursively, by key."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    async def close(self) -> None: ...


class BaseStore(abc.ABC):
    """Shared behaviour of the concrete stores; subclasses set ``uri``."""

    uri: str

    def uri_for(self, key: str) -> str:
        return f"{self.uri}/{validate_key(key)}"

    def key_for(self, uri: str) -> str:
        root = self.uri + "/"
        if not uri.startswith(root):
            raise PermanentStoreError(
                f"{uri!r} is not inside the store {self.uri!r}: pass a URI made by "
                "this store's uri_for(), or open the store that holds it"
            )
        return validate_key(uri[len(root) :])

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def get_json(self, key: str) -> Any:
        data = await self.get_bytes(key)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PermanentStoreError(
                f"object {self.uri_for(key)!r} is corrupt: not valid JSON ({exc}); "
                "delete it or write it again"
            ) from exc

    async def put_json(self, key: str, value: Any) -> ObjectInfo:
        try:
            data = canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise PermanentStoreError(
                f"cannot store {key!r} as JSON: {exc}; pass plain JSON values "
                "(use model_dump(mode='json') for pydantic models)"
            ) from exc
        return await self.put_bytes(key, data, content_type="application/json")

    async def get_bytes(self, key: str) -> bytes:
        chunks = [chunk async for chunk in self.iter_bytes(key)]
        return b"".join(chunks)

    @abc.abstractmethod
    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo: ...

    @abc.abstractmethod
    def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo | None: ...


def not_found(store_uri: str, key: str) -> ObjectNotFoundError:
    """The one wording of a missing object, shared by every backend."""
    return ObjectNotFoundError(
        f"object {key!r} does not exist in the store {store_uri!r}: check the key, or "
        "whether the run that writes it has finished"
    )
