"""Run state and the other runner buckets in JetStream KV, with compare-and-set.

The controller reads a run's state with its revision, decides, and writes it
back only if nobody else wrote in between (:meth:`NatsKV.update`); losing
that race is a :class:`~runner.errors.ConflictError`, which the controller
answers by reloading and deciding again.
"""

from __future__ import annotations

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from runner.bus.base import validate_kv_key
from runner.bus.nats_errors import translate_errors
from runner.errors import ConflictError

__all__ = ["NatsKV"]


class NatsKV:
    """One bucket; every key is checked with :func:`validate_kv_key`."""

    def __init__(self, kv: KeyValue, bucket: str, url: str) -> None:
        self._kv = kv
        self._bucket = bucket
        self._url = url

    async def get(self, key: str) -> tuple[bytes, int] | None:
        validate_kv_key(key)
        with translate_errors(f"read KV {self._bucket}/{key}", self._url):
            try:
                entry = await self._kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # also a deleted key
                return None
        return entry.value or b"", entry.revision or 0

    async def create(self, key: str, value: bytes) -> int:
        validate_kv_key(key)
        with translate_errors(f"create KV {self._bucket}/{key}", self._url):
            try:
                return await self._kv.create(key, value)
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise ConflictError(
                    f"KV key {key!r} already exists in bucket {self._bucket}: read it "
                    "(get) and update it with its revision instead"
                ) from exc

    async def update(self, key: str, value: bytes, revision: int) -> int:
        validate_kv_key(key)
        with translate_errors(f"update KV {self._bucket}/{key}", self._url):
            try:
                return await self._kv.update(key, value, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise ConflictError(
                    f"KV key {key!r} in bucket {self._bucket} is no longer at revision "
                    f"{revision} (another writer changed or deleted it): read it again "
                    "and retry"
                ) from exc

    async def put(self, key: str, value: bytes) -> int:
        """Write whatever is there (no compare-and-set)."""
        validate_kv_key(key)
        with translate_errors(f"put KV {self._bucket}/{key}", self._url):
            return await self._kv.put(key, value)

    async def delete(self, key: str) -> None:
        validate_kv_key(key)
        with translate_errors(f"delete KV {self._bucket}/{key}", self._url):
            await self._kv.delete(key)

    async def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``, sorted.

        Not nats-py's ``KeyValue.keys()``: its watcher can report "initial
        values done" before every key was delivered, so it sometimes returns
        a partial list. :meth:`_scan` reads until it saw every subject the
        server says the bucket holds."""
        pattern = prefix + ">" if prefix.endswith(".") else ">"
        entries = await self._scan(pattern, meta_only=True)
        return sorted(k for k, _ in entries if k.startswith(prefix))

    async def values(self, pattern: str = ">") -> list[tuple[str, bytes]]:
        """Latest value of every key matching ``pattern``: one ordered consumer
        delivering the last message per subject, filtered by the server."""
        return await self._scan(pattern, meta_only=False)

    async def _count(self, pattern: str) -> int:
        """How many keys (deleted ones included) the server holds for ``pattern``."""
        js = self._kv._js  # the bucket's own JetStream context
        stream = self._kv._stream
        info = await js.stream_info(stream, subjects_filter=f"$KV.{self._bucket}.{pattern}")
        return len(info.state.subjects or {})

    async def _scan(self, pattern: str, *, meta_only: bool) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        with translate_errors(f"list KV {self._bucket}", self._url):
            expected = await self._count(pattern)
            if expected == 0:
                return found
            watcher = await self._kv.watch(pattern, meta_only=meta_only)
            try:
                seen = 0
                while seen < expected:
                    try:
                        entry = await watcher.updates(timeout=_SCAN_IDLE_SECONDS)  # type: ignore[no-untyped-call]
                    except nats.errors.TimeoutError:
                        break  # a key deleted and purged meanwhile: take what came
                    if entry is None:  # "initial values done" — possibly early: go on
                        continue
                    seen += 1
                    if entry.operation in ("DEL", "PURGE"):
                        continue
                    found.append((entry.key, entry.value or b""))
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        return found


_SCAN_IDLE_SECONDS = 10.0
