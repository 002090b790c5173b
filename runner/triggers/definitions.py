"""Stored definitions: triggers and sinks as JSON in a JetStream KV bucket.

Keys in the ``runner-triggers`` bucket::

    trigger.<name>   a Trigger            sink.<name>    a Sink
    cursor.<name>    a poller's cursor    active.<name>  a trigger's unfinished runs

Dedup records live in a bucket of their own (``runner-trigger-seen``, one key
per object version a trigger has seen) because it grows with every object
and is never listed. Every process (``runner up``, the controller in a
cluster, ``runner triggers``) reads definitions from here, so a trigger added
from a laptop is picked up by whatever serves that NATS.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import pydantic
from pydantic import BaseModel

from runner.bus.base import Bus, KVBucket
from runner.errors import ConflictError, NotFoundError, PermanentError, ValidationError
from runner.events.kinds import validate_name

__all__ = ["DEFINITIONS_BUCKET", "SEEN_BUCKET", "Definitions", "definitions_bucket"]

DEFINITIONS_BUCKET = "runner-triggers"
SEEN_BUCKET = "runner-trigger-seen"

M = TypeVar("M", bound=BaseModel)


async def definitions_bucket(bus: Bus) -> KVBucket:
    return await bus.kv_bucket(DEFINITIONS_BUCKET, description="runner triggers and sinks")


class Definitions(Generic[M]):
    """Named definitions of one kind (``trigger`` or ``sink``) in a KV bucket."""

    def __init__(self, kv: KVBucket, kind: str, model: type[M]) -> None:
        self.kv = kv
        self.kind = kind
        self.model = model

    def _key(self, name: str) -> str:
        return f"{self.kind}.{validate_name(name, self.kind)}"

    def _parse(self, key: str, raw: bytes) -> M:
        try:
            return self.model.model_validate_json(raw)
        except pydantic.ValidationError as exc:
            raise PermanentError(
                f"stored {self.kind} {key!r} is unreadable ({exc.error_count()} problems, "
                f"first: {exc.errors()[0]['msg']}): remove it with `runner {self.kind} rm` "
                "and add it again"
            ) from exc

    async def get(self, name: str) -> tuple[M, int]:
        """The definition and its revision; :class:`NotFoundError` if there is none."""
        found = await self.kv.get(self._key(name))
        if found is None:
            raise NotFoundError(
                f"no {self.kind} named {name!r}: see `runner {self.kind} ls`, or add it"
            )
        return self._parse(name, found[0]), found[1]

    async def list(self) -> list[tuple[M, int]]:
        """Every readable definition, by name; unreadable ones are skipped."""
        out: list[tuple[M, int]] = []
        for key in await self.kv.keys(f"{self.kind}."):
            found = await self.kv.get(key)
            if found is None:
                continue  # removed between listing and reading
            try:
                out.append((self._parse(key, found[0]), found[1]))
            except PermanentError:
                continue
        return out

    async def add(self, name: str, definition: M, *, replace: bool = False) -> int:
        data = definition.model_dump_json().encode()
        if replace:
            return await self.kv.put(self._key(name), data)
        try:
            return await self.kv.create(self._key(name), data)
        except ConflictError:
            raise ValidationError(
                f"a {self.kind} named {name!r} already exists: pick another name, remove it "
                f"first (`runner {self.kind} rm {name}`) or pass --replace"
            ) from None

    async def update(self, name: str, definition: M, revision: int) -> int:
        return await self.kv.update(
            self._key(name), definition.model_dump_json().encode(), revision
        )

    async def remove(self, name: str) -> None:
        await self.get(name)  # NotFoundError names the fix
        await self.kv.delete(self._key(name))

    async def set_enabled(self, name: str, enabled: bool) -> M:
        """Flip ``enabled`` with compare-and-set; returns the stored definition."""
        for _ in range(5):
            current, revision = await self.get(name)
            changed = current.model_copy(update={"enabled": enabled})
            try:
                await self.update(name, changed, revision)
            except ConflictError:
                continue
            return changed
        raise ConflictError(f"{self.kind} {name!r} kept changing while being updated: retry")
