"""Run state in the JetStream KV bucket, with compare-and-set.

Key ``run.<run_id>``; value: the :class:`~runner.core.RunState` JSON, zlib
compressed above a small size (large DAGs have large states). Encoding is
deterministic, so comparing a new encoding with the stored bytes tells
whether a batch of events changed anything — without a second encode.
"""

from __future__ import annotations

import zlib

from runner.bus.base import Bus
from runner.core import RunState

KEY_PREFIX = "run."
_COMPRESSED = b"z"
_PLAIN = b"j"
_COMPRESS_ABOVE = 16 * 1024


def state_key(run_id: str) -> str:
    return KEY_PREFIX + run_id


def encode_state(state: RunState) -> bytes:
    raw = state.model_dump_json(exclude_defaults=True).encode()
    if len(raw) > _COMPRESS_ABOVE:
        return _COMPRESSED + zlib.compress(raw, 1)
    return _PLAIN + raw


def decode_state(value: bytes) -> RunState:
    if value[:1] == _COMPRESSED:
        return RunState.model_validate_json(zlib.decompress(value[1:]))
    if value[:1] == _PLAIN:
        return RunState.model_validate_json(value[1:])
    return RunState.model_validate_json(value)


class RunStates:
    """Load and save run states with optimistic concurrency."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def load(self, run_id: str) -> tuple[RunState, int] | None:
        loaded = await self.load_raw(run_id)
        return None if loaded is None else (loaded[0], loaded[1])

    async def load_raw(self, run_id: str) -> tuple[RunState, int, bytes] | None:
        """The state, its revision, and the stored bytes it was decoded from."""
        entry = await (await self.bus.state_bucket()).get(state_key(run_id))
        if entry is None:
            return None
        value, revision = entry
        return decode_state(value), revision, value

    async def save(
        self, state: RunState, revision: int | None, *, value: bytes | None = None
    ) -> int:
        """Create (``revision`` None) or compare-and-set; raises ConflictError.

        ``value``: the state already encoded with :func:`encode_state`."""
        value = encode_state(state) if value is None else value
        bucket = await self.bus.state_bucket()
        if revision is None:
            return await bucket.create(state_key(state.run_id), value)
        return await bucket.update(state_key(state.run_id), value, revision)

    async def run_ids(self) -> list[str]:
        keys = await (await self.bus.state_bucket()).keys(KEY_PREFIX)
        return [k[len(KEY_PREFIX) :] for k in keys if k.startswith(KEY_PREFIX)]
