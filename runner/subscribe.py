"""``runner.subscribe(...)``: run events as an async iterator, for downstream services.

::

    async with runner.subscribe(pipeline="iris", kind="run", durable="notifier") as events:
        async for event in events:
            print(event.type, event.run_id, event.data_json())

The filter is a NATS subject (``"runner.events.iris.*.run.>"``) or the
keywords ``pipeline``, ``run`` and ``kind`` (``run``, ``step`` or a kind such
as ``step.failed``), the same filters as ``runner events --follow``. With
``durable=NAME`` the subscription is a durable JetStream consumer: each event
is acknowledged when the next one is asked for, and the next subscription with
that name resumes after it (the event being handled when a subscriber stopped
is delivered again). Without it, ``deliver="all"`` replays the stored history
and ``deliver="new"`` starts now.

It connects to ``NATS_URL`` (or the settings given), else to the embedded
server a ``runner up`` runs for the home; it never starts a server. Importing
this module loads no NATS client: ``import runner`` stays light.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

from runner.errors import ConfigError
from runner.events.kinds import subject_filter

if TYPE_CHECKING:
    from runner.bus.base import Bus
    from runner.config import Settings
    from runner.events.envelope import Event

__all__ = ["Subscription", "subscribe"]


def subscribe(
    filter: str | None = None,
    *,
    pipeline: str | None = None,
    run: str | None = None,
    kind: str | None = None,
    durable: str | None = None,
    deliver: Literal["all", "new"] = "all",
    bus: Bus | None = None,
    settings: Settings | None = None,
) -> Subscription:
    """Events matching the filter, oldest first; see the module doc."""
    if filter is not None and (pipeline or run or kind):
        raise ConfigError(
            "subscribe() takes a subject filter or pipeline/run/kind keywords, not both: "
            f"drop {filter!r} or the keywords"
        )
    subject = filter or subject_filter(pipeline, run, kind)
    if not subject.startswith("runner.events."):
        raise ConfigError(
            f"subject filter {subject!r} is not a runner event subject: use "
            "runner.events.<pipeline>.<run>.<kind> with * and > wildcards"
        )
    return Subscription(subject, durable=durable, deliver=deliver, bus=bus, settings=settings)


class Subscription:
    """An async iterator of :class:`~runner.events.Event`; close it (or use ``async with``)."""

    def __init__(
        self,
        subject: str,
        *,
        durable: str | None,
        deliver: Literal["all", "new"],
        bus: Bus | None,
        settings: Settings | None,
    ) -> None:
        self.subject = subject
        self.durable = durable
        self.deliver: Literal["all", "new"] = deliver
        self._given_bus = bus
        self._settings = settings
        self._bus: Bus | None = None
        self._events: AsyncIterator[Event] | None = None

    async def _open(self) -> AsyncIterator[Event]:
        if self._events is None:
            self._bus = self._given_bus or await _connect(self._settings)
            self._events = self._bus.subscribe(
                self.subject, durable=self.durable, deliver=self.deliver
            )
        return self._events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        events = await self._open()
        return await anext(events)

    async def __aenter__(self) -> Subscription:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: a durable consumer keeps its position; our own connection is closed."""
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()  # type: ignore[attr-defined]
        bus, self._bus = self._bus, None
        if bus is not None and bus is not self._given_bus:
            await bus.close()


async def _connect(settings: Settings | None) -> Bus:
    from runner.bus import connect, discover
    from runner.config import Settings

    settings = settings or Settings()
    url = settings.nats.url or discover(settings.home.resolve() / "nats")
    if url is None:
        raise ConfigError(
            "no NATS to subscribe to: set NATS_URL to the server runner uses, or start "
            f"`runner up` (home {settings.home.resolve()})"
        )
    return await connect(settings.nats, url=url)
