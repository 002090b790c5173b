"""Keep an :class:`~runner.bus.embedded.EmbeddedNats` running: restart it when it dies.

:func:`supervise` polls the server process; when it exits behind its owner's
back (killed, crashed) it is started again on the same port and data dir —
the URL every client and step process was given stays right, and JetStream
keeps its streams. One WARNING per restart; the first exit in a window is
retried at once, later ones with doubling backoff; more exits than
:attr:`RestartPolicy.max_restarts` within the window end supervision with a
:class:`~runner.errors.BusError`, because something keeps killing the server
and the owner (``runner up``) must stop and say so rather than limp on.
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
    """How :func:`supervise` brings a dead server back."""

    poll_seconds: float = 0.5
    """How often the process is checked."""
    max_restarts: int = 5
    """Restarts allowed within ``window_seconds``; one more exit and supervision gives up."""
    window_seconds: float = 60.0
    backoff_seconds: float = 0.5
    """Wait before the second restart in a window; doubled each time, up to the maximum."""
    max_backoff_seconds: float = 8.0


async def supervise(server: EmbeddedNats, policy: RestartPolicy | None = None) -> None:
    """Until ``server.stop()`` (or cancellation): restart the server whenever it exits."""
    policy = policy or RestartPolicy()
    recent: deque[float] = deque()
    last_error = ""
    while (state := server.poll()) is not None:
        pid, returncode = state
        if returncode is None:
            await asyncio.sleep(policy.poll_seconds)
            continue
        now = time.monotonic()
        recent.append(now)
        while recent and recent[0] < now - policy.window_seconds:
            recent.popleft()
        why = last_error or exit_reason(returncode)
        if len(recent) > policy.max_restarts:
            raise BusError(
                f"the embedded nats-server on port {server.port} (data dir {server.data_dir}) "
                f"stopped {len(recent)} times within {policy.window_seconds:g}s (last: {why}); "
                f"gave up restarting it. See {server.log_file}, fix the cause (a full disk? "
                "something killing it?) and start again"
            )
        log.warning(
            "the embedded nats-server (pid %d) %s; restarting it on port %s (restart %d)",
            pid,
            why,
            server.port,
            server.restarts + 1,
        )
        delay = policy.backoff_seconds * 2 ** (len(recent) - 2) if len(recent) > 1 else 0.0
        await asyncio.sleep(min(delay, policy.max_backoff_seconds))
        try:
            await server.restart()
        except BusError as exc:
            # The server is the failed (dead) process now, or still the old one when
            # nothing could be spawned: the next turn counts it and tries again.
            last_error = f"could not be restarted: {str(exc).splitlines()[0]}"
            continue
        last_error = ""
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
