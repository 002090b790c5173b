"""A list-then-watch loop over one kind of object, as Kubernetes clients do it.

List (the full state and its ``resourceVersion``), then watch from that
version; when a watch ends (server timeout, dropped connection) watch again
from the last version seen; when the server says the version is gone
(``410 Gone``: it compacted its history) list again; on any other API error
back off exponentially and retry. Callers get every item of a (re)list and
every change after it, so a restarted executor sees the Jobs it did not
create and nothing is missed across a reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from runner.errors import ExecutorError

log = logging.getLogger(__name__)

ListFn = Callable[..., Awaitable[Any]]
"""A ``kubernetes_asyncio`` list method, e.g. ``BatchV1Api.list_namespaced_job``."""
OnSync = Callable[[list[dict[str, Any]]], Awaitable[None]]
OnEvent = Callable[[str, dict[str, Any]], Awaitable[None]]


class GoneError(ExecutorError):
    """The watched resourceVersion is too old (HTTP 410): list again."""


class ResourceWatch:
    """Keeps a caller informed about the objects matching a label selector."""

    def __init__(
        self,
        *,
        what: str,
        list_fn: ListFn,
        namespace: str,
        selector: str,
        on_sync: OnSync,
        on_event: OnEvent,
        timeout_seconds: int = 300,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.what = what
        self.list_fn = list_fn
        self.namespace = namespace
        self.selector = selector
        self.on_sync = on_sync
        self.on_event = on_event
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        """Set after the first successful list."""
        self.relists = 0
        self.errors = 0

    async def run(self) -> None:
        """Watch until cancelled; never returns on its own."""
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                    self.relists += 1
                await self._watch()
                failures = 0
            except GoneError as exc:
                log.info("%s watch: %s; listing again", self.what, exc)
                self.resource_version = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any API or network trouble: back off and retry
                failures += 1
                self.errors += 1
                delay = min(self.backoff_seconds * 2 ** (failures - 1), self.max_backoff_seconds)
                log.warning(
                    "%s watch failed (%s: %s); retrying in %.1fs",
                    self.what, type(exc).__name__, exc, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        resp = await self.list_fn(
            self.namespace,
            label_selector=self.selector,
            _preload_content=False,
            _request_timeout=30,
        )
        try:
            body = await resp.read()
            _check_status(resp.status, body, f"list {self.what}")
        finally:
            resp.release()
        data = json.loads(body)
        await self.on_sync(list(data.get("items") or []))
        self.resource_version = str((data.get("metadata") or {}).get("resourceVersion") or "")
        self.synced.set()

    async def _watch(self) -> None:
        resp = await self.list_fn(
            self.namespace,
            label_selector=self.selector,
            watch=True,
            resource_version=self.resource_version,
            timeout_seconds=self.timeout_seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            # A silent connection is a dead one: the server sends bookmarks.
            _request_timeout=(10, self.timeout_seconds + 30),
        )
        try:
            if resp.status != 200:
                _check_status(resp.status, await resp.read(), f"watch {self.what}")
            async for line in resp.content:
                if line.strip():
                    await self._handle(json.loads(line))
        finally:
            resp.release()

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            message = f"{obj.get('reason')}: {obj.get('message')}"
            if code == 410:
                raise GoneError(message)
            raise ExecutorError(f"watch {self.what} returned an error ({code}): {message}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            await self.on_event(kind, obj)


def _check_status(status: int, body: bytes, what: str) -> None:
    if 200 <= status < 300:
        return
    text = body.decode(errors="replace")[:500]
    if status == 410:
        raise GoneError(f"{what}: {text}")
    raise ExecutorError(f"{what} failed with HTTP {status}: {text}")
