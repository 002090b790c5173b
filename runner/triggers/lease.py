"""One holder at a time: a lease in KV for work that must not run twice at once.

A sink delivers each run's events in order only if one process delivers
them; a poller lists a bucket once per interval only if one process polls.
When several processes serve one NATS (controller replicas, ``runner up``
next to ``runner triggers``), each such worker first takes a lease: a KV
key ``lease.<what>`` holding the owner and an expiry, taken and renewed with
compare-and-set. The holder renews it every third of its time to live; if a
renewal fails (someone took it over after it expired) the work is stopped.
A holder that stops cleanly deletes the key, so a successor does not wait.
Expiry compares wall clocks across machines: keep the TTL well above clock
skew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from runner.bus.base import KVBucket
from runner.errors import ConflictError, RunnerError

__all__ = ["LEASE_TTL_SECONDS", "Lease", "owner_id"]

log = logging.getLogger(__name__)

LEASE_TTL_SECONDS = 30.0


def owner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Lease:
    """``await lease.run(work)``: run ``work`` only while holding ``key``."""

    def __init__(
        self,
        kv: KVBucket,
        key: str,
        owner: str,
        *,
        ttl: float = LEASE_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_blocked: Callable[[], None] | None = None,
    ) -> None:
        self.kv = kv
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.clock = clock
        self.sleep = sleep
        self.on_blocked = on_blocked
        """Called each time the lease is found held by someone else."""
        self.held = False

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Wait for the lease, run ``work`` while renewing it; again if it is lost."""
        while True:
            revision: int | None = await self._acquire()
            self.held = True
            task = asyncio.ensure_future(work())
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=self.ttl / 3)
                    if not task.done() and revision is not None:
                        revision = await self._renew(revision)
                        if revision is None:
                            log.warning("lease %s was taken over: stopping here", self.key)
                            break
                if task.done():
                    return task.result()
            finally:
                self.held = False
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                if revision is not None:
                    await self._release(revision)

    def _value(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": self.clock() + self.ttl}).encode()

    async def _acquire(self) -> int:
        while True:
            found = await self.kv.get(self.key)
            try:
                if found is None:
                    return await self.kv.create(self.key, self._value())
                if self._free(found[0]):
                    return await self.kv.update(self.key, self._value(), found[1])
            except ConflictError:
                continue  # someone else moved first: look again
            if self.on_blocked is not None:
                self.on_blocked()
            await self.sleep(self.ttl / 3)

    def _free(self, raw: bytes) -> bool:
        try:
            value = json.loads(raw)
            return bool(value["owner"] == self.owner or float(value["expires"]) < self.clock())
        except (ValueError, KeyError, TypeError):
            return True  # unreadable: take it

    async def _renew(self, revision: int) -> int | None:
        try:
            return await self.kv.update(self.key, self._value(), revision)
        except ConflictError:
            return None

    async def _release(self, revision: int) -> None:
        with contextlib.suppress(RunnerError):
            found = await self.kv.get(self.key)
            if found is not None and found[1] == revision:
                await self.kv.delete(self.key)
