"""The trigger service: every enabled trigger and sink stored on this NATS, kept running.

Runs inside ``runner up`` and the in-cluster controller (:func:`runner.service.serve`)
and alone as ``runner triggers``. Every ``reload_seconds`` it reads the
definitions bucket and reconciles: a notification feed per subject that a
trigger reads, a poller per enabled polling trigger, a worker per enabled
sink. Pollers and sinks hold a lease (:mod:`runner.triggers.lease`) so that
of several processes serving one NATS only one polls a bucket or delivers a
sink's events (in order); notification feeds are shared by all of them.
A changed definition restarts its task; a task that crashed is
logged and started again at the next reconcile. Shutdown cancels the tasks
(what was not acked is delivered again later) and closes the HTTP and S3
clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from runner.bus.base import Bus
from runner.config import StoreSettings
from runner.errors import RunnerError
from runner.records.requests import RunHandle
from runner.store.listing import BucketLister, S3BucketLister
from runner.tasks import stop_task
from runner.triggers.definitions import SEEN_BUCKET, Definitions, definitions_bucket
from runner.triggers.engine import TriggerEngine, now_utc
from runner.triggers.feeds import FeedKey, NotificationFeed
from runner.triggers.lease import Lease, owner_id
from runner.triggers.limits import RunLimiter
from runner.triggers.models import (
    NOTIFICATION_SUBJECTS,
    NOTIFICATIONS_STREAM,
    NatsSource,
    PollSource,
    Trigger,
)
from runner.triggers.poller import Poller
from runner.triggers.sink import AiohttpSender, HttpSender, Sink
from runner.triggers.sink_worker import SinkWorker

__all__ = ["TriggerService"]

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 5.0


@dataclass
class _Supervised:
    version: str
    task: asyncio.Task[None]
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class TriggerService:
    """``async with TriggerService(bus) as service:`` runs triggers and sinks."""

    def __init__(
        self,
        bus: Bus,
        *,
        store_settings: StoreSettings | None = None,
        lister_factory: Callable[[PollSource], BucketLister] | None = None,
        sender: HttpSender | None = None,
        reload_seconds: float = 2.0,
        clock: Callable[[], datetime] = now_utc,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bus = bus
        self.store_settings = store_settings or StoreSettings()
        self.lister_factory = lister_factory or self._s3_lister
        self.sender = sender or AiohttpSender()
        self.reload_seconds = reload_seconds
        self.clock = clock
        self.sleep = sleep
        self.triggers: dict[str, Trigger] = {}
        self.feeds: dict[FeedKey, NotificationFeed] = {}
        self.pollers: dict[str, Poller] = {}
        self.sinks: dict[str, SinkWorker] = {}
        self._tasks: dict[str, _Supervised] = {}
        self._reloader: asyncio.Task[None] | None = None
        self.engine: TriggerEngine | None = None
        self.owner = owner_id()
        """Who holds this service's leases (pollers and sinks run in one process at a time)."""

    def _s3_lister(self, source: PollSource) -> BucketLister:
        settings = self.store_settings.model_copy(
            update={
                "endpoint_url": source.endpoint_url or self.store_settings.endpoint_url,
                "region": source.region or self.store_settings.region,
            }
        )
        return S3BucketLister(settings)

    async def __aenter__(self) -> TriggerService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        await self.bus.ensure_stream(
            NOTIFICATIONS_STREAM,
            [NOTIFICATION_SUBJECTS],
            description="bucket notifications for runner triggers",
        )
        kv = await definitions_bucket(self.bus)
        self._kv = kv
        self._trigger_defs = Definitions(kv, "trigger", Trigger)
        self._sink_defs = Definitions(kv, "sink", Sink)
        seen = await self.bus.kv_bucket(SEEN_BUCKET, description="objects triggers have seen")
        limiter = RunLimiter(kv, self._finished)
        self.engine = TriggerEngine(self.bus, seen, limiter, clock=self.clock)
        await self.reconcile()
        self._reloader = asyncio.create_task(self._reload(), name="triggers:reload")

    async def _finished(self, pipeline: str, run_id: str) -> bool | None:
        state = await RunHandle(bus=self.bus, run_id=run_id, pipeline=pipeline).state()
        return None if state is None else state.status.terminal

    async def _reload(self) -> None:
        while True:
            await self.sleep(self.reload_seconds)
            try:
                await self.reconcile()
            except RunnerError as exc:
                log.warning("triggers: cannot read definitions: %s", exc)

    async def reconcile(self) -> None:
        """Start, restart and stop tasks to match the stored definitions."""
        assert self.engine is not None, "start() first"
        self.triggers = {t.name: t for t, _ in await self._trigger_defs.list()}
        wanted: dict[str, tuple[str, Callable[[], _Runnable]]] = {}
        for trigger in self.triggers.values():
            if isinstance(trigger.source, NatsSource):
                # Disabled triggers keep their feed: what arrives for them meanwhile
                # is dead-lettered (and replayable) rather than piling up unread.
                key = FeedKey.of(trigger.source)
                wanted[f"feed:{key}"] = ("", partial(self._feed, key))
            elif trigger.enabled:
                version = trigger.model_dump_json()
                wanted[f"poll:{trigger.name}"] = (version, partial(self._poller, trigger))
        for sink, _ in await self._sink_defs.list():
            if sink.enabled:
                wanted[f"sink:{sink.name}"] = (sink.model_dump_json(), partial(self._sink, sink))
        await self._apply(wanted)

    def _feed(self, key: FeedKey) -> _Runnable:
        feed = NotificationFeed(
            key, self.bus, self._engine(), lambda: self.triggers.values(), sleep=self.sleep
        )
        self.feeds[key] = feed
        return _Runnable(feed.run(), feed.ready)

    def _lease(self, key: str, ready: asyncio.Event) -> Lease:
        # Ready also when another process holds it: there is nothing to wait for here.
        return Lease(self._kv, key, self.owner, on_blocked=ready.set)

    def _poller(self, trigger: Trigger) -> _Runnable:
        assert isinstance(trigger.source, PollSource)
        lister = self.lister_factory(trigger.source)
        poller = Poller(trigger, lister, self._engine(), self._kv, sleep=self.sleep)
        self.pollers[trigger.name] = poller
        ready = asyncio.Event()

        async def polling() -> None:
            ready.set()
            await poller.run()

        async def run() -> None:
            try:
                await self._lease(f"lease.poll.{trigger.name}", ready).run(polling)
            finally:
                await lister.close()

        return _Runnable(run(), ready)

    def _sink(self, sink: Sink) -> _Runnable:
        ready = asyncio.Event()
        worker = SinkWorker(sink, self.bus, self.sender, sleep=self.sleep, ready=ready)
        self.sinks[sink.name] = worker
        return _Runnable(self._lease(f"lease.sink.{sink.name}", ready).run(worker.run), ready)

    def _engine(self) -> TriggerEngine:
        assert self.engine is not None
        return self.engine

    async def _apply(self, wanted: dict[str, tuple[str, Callable[[], _Runnable]]]) -> None:
        for name, running in list(self._tasks.items()):
            if running.task.done() and not running.task.cancelled():
                error = running.task.exception()
                log.error("triggers: %s stopped: %s; starting it again", name, error)
            if name not in wanted or wanted[name][0] != running.version or running.task.done():
                await self._stop(name)
        started: list[_Supervised] = []
        for name, (version, make) in wanted.items():
            if name not in self._tasks:
                runnable = make()
                task = asyncio.create_task(runnable.coro, name=f"triggers:{name}")
                self._tasks[name] = _Supervised(version, task, runnable.ready)
                started.append(self._tasks[name])
        for supervised in started:
            await _until_ready(supervised)

    async def _stop(self, name: str) -> None:
        await stop_task(self._tasks.pop(name).task)

    async def aclose(self) -> None:
        await stop_task(self._reloader)
        for name in list(self._tasks):
            await self._stop(name)
        await self.sender.close()


@dataclass
class _Runnable:
    coro: Coroutine[Any, Any, None]
    ready: asyncio.Event


async def _until_ready(supervised: _Supervised) -> None:
    """Wait until the task's consumer exists (or it died, or the timeout passed)."""
    waiter = asyncio.create_task(supervised.ready.wait())
    await asyncio.wait(
        {waiter, supervised.task}, timeout=READY_TIMEOUT_SECONDS, return_when="FIRST_COMPLETED"
    )
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
