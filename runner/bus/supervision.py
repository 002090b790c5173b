"""Keep an :class:`~runner.bus.embedded.EmbeddedNats` running: restart it when it dies.

:func:`supervise` polls the server process; when it exits behind its owner's
back (killed, crashed) it is started again on the same port and data dir —
the URL every client and step process was given stays right, and JetStream
keeps its streams. One WARNING per restart; the first restart in a row is
at once, later ones with doubling backoff. A crash loop (more exits than
:attr:`RestartPolicy.max_restarts` within the window) or restarts that keep
failing (:attr:`RestartPolicy.max_failed_starts` in a row) end supervision
with a :class:`~runner.errors.BusError`: the owner (``runner up``) must stop
and say so rather than limp on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.errors import BusError

if TYPE_CHECKING:
    from runner.bus.embedded import EmbeddedNats

__all__ = ["RestartPolicy", "supervise"]

log = logging.getLogger("runner.bus.embedded")


@dataclass(frozen=True)
class RestartPolicy:
    """How :func:`supervise` brings a dead server back, and when it gives up."""

    poll_seconds: float = 0.5
    """How often the process is checked."""
    max_restarts: int = 5
    """Exits allowed within ``window_seconds``; one more and supervision gives up (a
    server that keeps dying soon after each restart: a crash loop)."""
    window_seconds: float = 20.0
    max_failed_starts: int = 5
    """Restarts in a row that may fail (the server does not come up: a taken port,
    a full disk) before supervision gives up."""
    backoff_seconds: float = 0.5
    """Wait before the second restart in a row; doubled each time, up to the maximum."""
    max_backoff_seconds: float = 8.0


class _Budget:
    """What the policy allows: recent exits in the window, failed starts in a row."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.exits: deque[float] = deque()
        self.failed_starts = 0
        self.last_error = ""

    def exited(self, now: float) -> None:
        self.exits.append(now)
        while self.exits and self.exits[0] < now - self.policy.window_seconds:
            self.exits.popleft()

    def exhausted(self, server: EmbeddedNats, why: str) -> BusError | None:
        policy = self.policy
        if self.failed_starts >= policy.max_failed_starts:
            what = f"could not be restarted {self.failed_starts} times in a row"
        elif len(self.exits) > policy.max_restarts:
            what = f"stopped {len(self.exits)} times within {policy.window_seconds:g}s"
        else:
            return None
        return BusError(
            f"the embedded nats-server on port {server.port} (data dir {server.data_dir}) "
            f"{what} (last: {why}); gave up restarting it. See {server.log_file}, fix the "
            "cause (a full disk? a taken port? something killing it?) and start again"
        )

    def delay(self) -> float:
        """The first restart in a row is at once, later ones ever more slowly."""
        streak = max(len(self.exits), self.failed_starts + 1)
        if streak <= 1:
            return 0.0
        backoff: float = self.policy.backoff_seconds * 2.0 ** (streak - 2)
        return min(backoff, self.policy.max_backoff_seconds)


async def supervise(server: EmbeddedNats, policy: RestartPolicy | None = None) -> None:
    """Until ``server.stop()`` (or cancellation): restart the server whenever it exits."""
    budget = _Budget(policy or RestartPolicy())
    while (state := server.poll()) is not None:
        pid, returncode = state
        if returncode is None:
            await asyncio.sleep(budget.policy.poll_seconds)
            continue
        why = budget.last_error or exit_reason(returncode)
        if not budget.last_error:  # a server that had come up, and died
            budget.exited(time.monotonic())
        error = budget.exhausted(server, why)
        if error is not None:
            raise error
        log.warning(
            "the embedded nats-server (pid %d) %s; restarting it on port %s (restart %d)",
            pid,
            why,
            server.port,
            server.restarts + 1,
        )
        await asyncio.sleep(budget.delay())
        try:
            await server.restart()
        except BusError as exc:
            # The server is the failed (dead) process now, or still the old one when
            # nothing could be spawned: the next turn sees it dead and tries again.
            budget.failed_starts += 1
            budget.last_error = f"could not be restarted: {str(exc).splitlines()[0]}"
            continue
        budget.failed_starts, budget.last_error = 0, ""
        log.info("the embedded nats-server is back on %s (pid %s)", server.url, server.pid)


def exit_reason(returncode: int) -> str:
    """``was killed by SIGKILL`` / ``exited with status 1``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"
