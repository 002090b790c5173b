"""Long-lived controller service: ``runner up`` locally, the Deployment in-cluster.

Runs a :class:`~runner.stack.Stack` with its controller, and the
bucket triggers and HTTP sinks (:class:`~runner.triggers.TriggerService`)
and the cron schedules (:class:`~runner.lifecycle.scheduler.Scheduler`),
until SIGINT or SIGTERM, then shuts down in phases (triggers and sinks,
stop fetching, finish in-flight events, stop the executor, close clients,
stop the embedded server). ``runner triggers`` serves triggers and sinks
alone (``controller=False``). The service ends with :class:`ServiceError`
when its controller dies or its embedded nats-server cannot be kept running
(the stack restarts a dead server; this is when it gave up).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from runner.config import Settings
from runner.errors import RunnerError
from runner.lifecycle.scheduler import Scheduler
from runner.privacy import redact_url, restrict_umask
from runner.stack import Stack
from runner.triggers import TriggerService

log = logging.getLogger(__name__)

SHUTDOWN_REPORT_SECONDS = 20.0
"""A shutdown still running after this long logs what it is waiting for."""


class ServiceError(RunnerError):
    """The long-lived service cannot go on (its controller or its nats-server died)."""


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Stack], None] | None = None,
    controller: bool = True,
    triggers: bool = True,
    schedules: bool = True,
) -> None:
    """Serve until ``stop`` is set or a SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    watchdog = _ShutdownWatchdog(loop)
    installed = []

    def on_signal() -> None:
        if stop.is_set():
            watchdog.force()  # a second Ctrl-C: the user will not wait any longer
        stop.set()
        watchdog.arm()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        async with (
            Stack(settings, controller=controller) as stack,
            contextlib.AsyncExitStack() as edges,
        ):
            if triggers:
                service = TriggerService(stack.bus, store_settings=settings.storage)
                await edges.enter_async_context(service)
            if controller and schedules:  # cron schedules fire where runs are driven
                await edges.enter_async_context(Scheduler(stack.bus))
            if on_ready is not None:
                on_ready(stack)
            await _until_stopped(stop, stack.controller_task, stack.supervisor_task)
    finally:
        watchdog.disarm()
        for sig in installed:
            loop.remove_signal_handler(sig)


class _ShutdownWatchdog:
    """Says what a slow shutdown waits for, and lets a second Ctrl-C end it.

    The timer runs on a thread, so it fires even if the event loop is stuck."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(SHUTDOWN_REPORT_SECONDS, self._report)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def force(self) -> None:
        log.error("stopping at once (second interrupt); the next start cleans up")
        os._exit(130)

    def _report(self) -> None:
        log.error(
            "still stopping after %gs; press Ctrl-C again to stop at once. Waiting on:",
            SHUTDOWN_REPORT_SECONDS,
        )
        try:
            for task in asyncio.all_tasks(self.loop):
                log.error("  task %s: %s", task.get_name(), _awaiting(task))
        except RuntimeError:  # the set of tasks changed while we read it
            pass
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def _awaiting(task: asyncio.Task[Any]) -> str:
    """Where ``task`` is suspended: its chain of awaits, outermost first."""
    where = []
    coro: Any = task.get_coro()
    for _ in range(30):
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if coro is not None and not where:
        return repr(coro)[:120]
    tail = f" -> {type(coro).__name__}" if coro is not None else ""
    return " -> ".join(where) + tail or "(not started)"


async def _until_stopped(
    stop: asyncio.Event,
    controller: asyncio.Task[None] | None,
    server: asyncio.Task[None] | None = None,
) -> None:
    """Wait for a stop request — or for the controller to die, or the supervisor of
    the embedded nats-server to give up, which are errors: a service that says
    "ready" while nothing drives runs would hang every run."""
    stopping = asyncio.create_task(stop.wait(), name="serve-stop")
    watched: set[asyncio.Task[Any]] = {stopping}
    watched.update(task for task in (controller, server) if task is not None)
    try:
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
    if server is not None and server.done() and not stop.is_set():
        # The stack has logged the supervisor's full error (what died, how often, the fix).
        raise ServiceError(
            "the service stops: its embedded nats-server could not be kept running "
            "(see the error above)"
        )
    if controller is not None and controller.done() and not stop.is_set():
        error = None if controller.cancelled() else controller.exception()
        cause = f"{type(error).__name__}: {error}" if error else "it returned"
        raise ServiceError(
            f"the controller stopped unexpectedly ({cause}); see the log above, "
            "then start the service again"
        )


def main() -> None:
    """``python -m runner.service``: serve with settings from the environment."""
    restrict_umask()  # what it writes under the home is the owner's only

    def ready(stack: Stack) -> None:
        print(f"runner controller ready; NATS at {redact_url(stack.nats_url or '?')}", flush=True)

    asyncio.run(serve(Settings(), on_ready=ready))
    sys.exit(0)


if __name__ == "__main__":
    main()
