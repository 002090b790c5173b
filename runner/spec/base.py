"""Foundations of the IR: canonical JSON, digests and the frozen base models.

:class:`Sparse` models leave selected fields out of their dumps while those
fields hold their defaults. The control-flow fields (conditions, loops, exit
handlers) are sparse, so a pipeline that uses none of them serialises — and
hashes — exactly as it did before they existed: its digest, its golden file
and the component digests (which hash the input declarations) stay the same,
and specs already stored keep verifying against their digests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

JsonValue = Any
"""A JSON value (None, bool, int, float, str, list, dict) — checked by the DSL."""


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` deterministically: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Frozen(BaseModel):
    """A spec value: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Sparse(Frozen):
    """A spec value whose ``SPARSE`` fields are dumped only when they differ from the default."""

    SPARSE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_unused(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        for name in self.SPARSE:
            if name in data and getattr(self, name) == fields[name].get_default(
                call_default_factory=True
            ):
                del data[name]
        return data
