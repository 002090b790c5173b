"""The restart policy of the embedded server's supervisor, against a scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.bus.supervision import RestartPolicy, exit_reason, supervise
from runner.errors import BusError

QUICK = RestartPolicy(poll_seconds=0.001, backoff_seconds=0.001, max_backoff_seconds=0.002)


class ScriptedServer:
    """Dies ``deaths`` times; restart fails for the restarts listed in ``failing``."""

    data_dir = Path("/tmp/nats")
    log_file = Path("/tmp/nats/nats-server.log")
    port = 4222
    url = "nats://127.0.0.1:4222"

    def __init__(self, deaths: int, failing: set[int] | None = None) -> None:
        self.deaths = deaths
        self.failing = failing or set()
        self.pid = 100
        self.alive = False  # it died just now
        self.restarts = 0
        self.tries = 0
        self.polls = 0

    def poll(self) -> tuple[int, int | None] | None:
        self.polls += 1
        if self.alive and self.deaths > 0 and self.polls % 3 == 0:
            self.deaths -= 1
            self.alive = False
        if self.alive and self.deaths == 0:
            return None  # stopped on purpose: supervision ends
        return (self.pid, None if self.alive else -9)

    async def restart(self) -> None:
        self.tries += 1
        if self.tries in self.failing:
            raise BusError("cannot restart: port 4222 is taken by another process\nmore")
        self.pid += 1
        self.alive = True
        self.restarts += 1


async def test_each_exit_is_restarted_while_within_the_budget() -> None:
    server = ScriptedServer(deaths=4, failing={2})
    await supervise(server, QUICK)  # type: ignore[arg-type]
    assert server.restarts == 5, "the first death and four more, one failed try retried"
    assert server.tries == 6


async def test_a_crash_loop_gives_up() -> None:
    server = ScriptedServer(deaths=100)
    with pytest.raises(
        BusError, match=r"stopped 6 times within 20s \(last: was killed by SIGKILL\)"
    ):
        await supervise(server, QUICK)  # type: ignore[arg-type]
    assert server.restarts == 5


async def test_restarts_that_keep_failing_give_up_with_the_last_cause() -> None:
    server = ScriptedServer(deaths=0, failing=set(range(1, 100)))
    with pytest.raises(BusError) as info:
        await supervise(server, QUICK)  # type: ignore[arg-type]
    text = str(info.value)
    assert "could not be restarted 5 times in a row" in text
    assert "port 4222 is taken by another process" in text
    assert "more" not in text, "only the first line of the cause"
    assert server.tries == 5


def test_exit_reasons() -> None:
    assert exit_reason(-9) == "was killed by SIGKILL"
    assert exit_reason(1) == "exited with status 1"
    assert exit_reason(-200) == "was killed by signal 200"
