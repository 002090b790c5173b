"""The one way a test waits for something: poll a condition until it holds, or fail
at a deadline naming what was awaited (CONVENTIONS rule 14).

``wait_until`` is for synchronous tests; ``until`` is for async ones, and its
condition may be a plain function or a coroutine function. Both return the
condition's first truthy value, so a test can wait for a thing and get it::

    entry = wait_until(lambda: ledger.started(run, step), f"step {step} to start", 60)
    await until(lambda: len(bus.dead_letters) == 1, "the dead letter", timeout=5)

A condition may raise to fail at once (a process that died will never get
ready); the error goes through unchanged. At the deadline the wait fails with an
:class:`AssertionError` whose first line says how long it waited and for what,
with the last value the condition returned when that says more than ``False``,
and then ``detail()`` where given (a log tail, what is left).

Never a fixed sleep then an assert: wait for the condition. For "nothing
happens", wait (bounded) for a progress signal that shows the code had the
chance to act, then assert nothing did.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
"""Seconds a wait may take unless the call says otherwise."""
INTERVAL = 0.05
"""Seconds between two looks at the condition unless the call says otherwise."""
_SHOWN = 300
"""How much of the last value seen a failure message shows."""


class _Deadline:
    def __init__(self, what: str, timeout: float, detail: Callable[[], str] | None) -> None:
        self.what = what
        self.timeout = timeout
        self.detail = detail
        self._end = time.monotonic() + timeout

    def passed(self) -> bool:
        return time.monotonic() > self._end

    def failure(self, last: object) -> AssertionError:
        text = f"timed out after {self.timeout:g}s waiting for {self.what}"
        if last is not None and not isinstance(last, bool):
            seen = repr(last)
            if len(seen) > _SHOWN:
                seen = seen[:_SHOWN] + "..."
            text += f" (last seen: {seen})"
        if self.detail is not None:
            text += f"\n{self.detail()}"
        return AssertionError(text)


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    interval: float = INTERVAL,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy
    and return that; fail after ``timeout`` seconds naming ``what`` was awaited."""
    deadline = _Deadline(what, timeout, detail)
    while not (value := condition()):
        if deadline.passed():
            raise deadline.failure(value)
        time.sleep(interval)
    return value


@overload
async def until(
    condition: Callable[[], Awaitable[T]],
    what: str,
    timeout: float = ...,
    *,
    interval: float = ...,
    pause: Callable[[], Awaitable[object]] | None = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def until(
    condition: Callable[[], T],
    what: str,
    timeout: float = ...,
    *,
    interval: float = ...,
    pause: Callable[[], Awaitable[object]] | None = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


async def until(
    condition: Callable[[], object],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    interval: float = INTERVAL,
    pause: Callable[[], Awaitable[object]] | None = None,
    detail: Callable[[], str] | None = None,
) -> object:
    """:func:`wait_until` for async tests; ``condition`` may be sync or async.

    Between two looks it awaits ``pause()`` where given (a change signal, such as
    ``lambda: bus.wait_changed(0.01)``), else ``asyncio.sleep(interval)``."""
    deadline = _Deadline(what, timeout, detail)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if deadline.passed():
            raise deadline.failure(value)
        await (pause() if pause is not None else asyncio.sleep(interval))
