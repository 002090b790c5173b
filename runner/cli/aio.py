"""Running a command's coroutine, and Ctrl-C as a request rather than a crash.

:func:`run_async` is how every command enters asyncio; a Ctrl-C that reaches
it (the command did not handle it) exits with status 130. :class:`Interrupts`
turns the first SIGINT/SIGTERM into an event the command reacts to
(``runner run`` cancels its run, a ``--follow`` stops following); a second
one cancels the command outright, so a stuck shutdown can always be escaped.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

__all__ = ["INTERRUPTED_EXIT", "Interrupts", "run_async", "until_interrupted"]

T = TypeVar("T")

INTERRUPTED_EXIT = 130
"""128 + SIGINT, what shells report for a command stopped with Ctrl-C."""


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` and return its result; exit with status 130 if it was interrupted."""
    try:
        return asyncio.run(main)
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise typer.Exit(INTERRUPTED_EXIT) from None


class Interrupts:
    """``with Interrupts() as stop:`` — ``stop.requested`` is set on the first Ctrl-C.

    A second Ctrl-C cancels the task that entered the block. Outside the main
    thread (tests) signal handlers cannot be installed and nothing happens.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.count = 0
        self._task: asyncio.Task[Any] | None = None
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in self.SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_signal)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._installed.append(sig)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    def _on_signal(self) -> None:
        self.count += 1
        if self.count == 1:
            self.requested.set()
        elif self._task is not None:
            self._task.cancel()

    async def wait(self) -> None:
        await self.requested.wait()


async def until_interrupted(work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` until it ends (``False``) or Ctrl-C stops it (``True``)."""
    with Interrupts() as interrupts:
        task = asyncio.create_task(work, name="command")
        stop = asyncio.create_task(interrupts.wait(), name="wait-for-ctrl-c")
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # re-raise what went wrong
                return False
            return True
        finally:
            for pending in (task, stop):
                pending.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
