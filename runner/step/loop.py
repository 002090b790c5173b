"""The step's own I/O: an asyncio loop on a helper thread, beside the user's code.

A component is the user's program, so it owns the process's main thread:
CPython runs signal handlers there and only there (``signal.signal`` raises
``ValueError`` anywhere else), and debuggers, ``faulthandler`` and libraries
that check ``threading.main_thread()`` expect to be on it. The step's own
asynchronous work — reporting on NATS, fetching and uploading artifacts,
writing the cache manifest — runs on an event loop in a helper thread; the
main thread hands it one coroutine at a time with :meth:`IoLoop.call` and
waits for the result.

A coroutine runs in a copy of the caller's context (``contextvars``): the
span that is current on the main thread (OpenTelemetry keeps it in a context
variable) is current in it too.

The loop is started by the step once its request is read, never at import: a
process that forks warm workers must fork before it has any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["IoLoop"]

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_TIMEOUT_SECONDS = 30.0
"""How long closing waits for the loop's last tasks (a NATS drain, a store close)."""


class IoLoop:
    """An event loop serving the main thread's coroutines from a daemon thread."""

    def __init__(self, name: str = "runner-step-io") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def __enter__(self) -> IoLoop:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name=self._name, daemon=True
        )
        self._thread.start()
        while not ready.wait(0.1):
            if not self._thread.is_alive():
                raise RuntimeError(f"the step's I/O loop did not start: {self._failure!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (or exception).

        If the wait itself is interrupted — a signal handler of the user's
        raised on this thread — the coroutine is cancelled, then the
        interruption goes on.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("the step's I/O loop is not running")
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            if done.cancelled():
                coro.close()
                return
            task = loop.create_task(coro)  # copies this callback's context: the caller's
            tasks.append(task)
            task.add_done_callback(lambda t: _settle(done, t))

        def cancel() -> None:
            for task in tasks:
                task.cancel()

        loop.call_soon_threadsafe(start, context=contextvars.copy_context())
        try:
            return done.result()
        except BaseException:
            if not done.done():
                done.cancel()
                # FIFO: runs after start(), so the task (if any) exists by then.
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    loop.call_soon_threadsafe(cancel)
            raise

    def close(self) -> None:
        """Stop the loop (its leftover tasks are cancelled) and join its thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        self._thread = None
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            log.warning(
                "the step's I/O loop did not stop within %gs; exiting without it",
                STOP_TIMEOUT_SECONDS,
            )

    def _serve(self, ready: threading.Event) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            ready.set()
            await self._stop.wait()

        try:
            # asyncio.run off the main thread installs no signal handler; on
            # the way out it cancels what is left and closes the loop.
            asyncio.run(serve())
        except BaseException as exc:
            self._failure = exc
            log.exception("the step's I/O loop failed")


def _settle(done: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    """Carry a finished task's outcome to the waiting thread's future."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the waiter gave up
        if task.cancelled():
            done.cancel()
        elif (exc := task.exception()) is not None:
            done.set_exception(exc)
        else:
            done.set_result(task.result())
