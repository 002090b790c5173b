"""The step's I/O loop: coroutines from the main thread run on a helper thread."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from runner.step.loop import IoLoop

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.fixture
def io() -> Iterator[IoLoop]:
    with IoLoop() as loop:
        yield loop


def test_a_coroutine_runs_on_the_helper_thread_and_returns_its_result(io: IoLoop) -> None:
    async def where() -> tuple[bool, str]:
        await asyncio.sleep(0)
        return (
            threading.current_thread() is threading.main_thread(),
            threading.current_thread().name,
        )

    on_main, name = io.call(where())
    assert not on_main
    assert name == "runner-step-io"


def test_an_exception_reaches_the_caller(io: IoLoop) -> None:
    async def fail() -> None:
        raise LookupError("no such artifact")

    with pytest.raises(LookupError, match="no such artifact"):
        io.call(fail())
    assert io.call(asyncio.sleep(0, result=7)) == 7, "the loop serves on after a failure"


def test_the_callers_context_is_current_in_the_coroutine(io: IoLoop) -> None:
    async def read() -> str:
        return VAR.get()

    token = VAR.set("the step's span")
    try:
        assert io.call(read()) == "the step's span"
    finally:
        VAR.reset(token)
    assert io.call(read()) == "unset"


def test_an_interrupted_wait_cancels_the_coroutine(io: IoLoop) -> None:
    """A signal handler raising on the main thread stops the I/O it was waiting for."""

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        started = time.monotonic()
        with pytest.raises(Interrupted):
            io.call(slow())
        assert time.monotonic() - started < 30
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert cancelled.wait(10), "the coroutine was not cancelled"


def test_close_cancels_what_is_left_and_a_closed_loop_refuses_work() -> None:
    cancelled = threading.Event()
    with IoLoop() as io:

        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async def spawn() -> None:
            asyncio.get_running_loop().create_task(forever())
            await asyncio.sleep(0)

        io.call(spawn())
    assert cancelled.is_set()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="not running"):
        io.call(coro)
