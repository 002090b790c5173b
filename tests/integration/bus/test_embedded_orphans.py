"""A nats-server whose owner was SIGKILLed is stopped and replaced, never adopted;
a recorded PID that now belongs to another process is never signalled."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.bus import EmbeddedNats, discover, stop_discovered
from runner.bus.embedded import INFO_FILE
from runner.bus.server_record import read_record, stop_orphan
from runner.config import Settings
from runner.errors import BusUnavailableError
from runner.process_identity import ProcessIdentity
from runner.stack import Stack
from tests.fixtures.nats import NatsServer
from tests.waiting import until

pytestmark = pytest.mark.integration

DEAD_OWNER = ProcessIdentity(2**22 + 11, 1, None)

OWNER = """
import asyncio, sys
from pathlib import Path
from runner.bus import EmbeddedNats

async def main() -> None:
    server = EmbeddedNats(Path(sys.argv[1]), die_with_owner=sys.argv[2] == "1")
    await server.start()
    print(server.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def gone(pid: int) -> Callable[[], bool]:
    identity = ProcessIdentity.of(pid)
    return lambda: identity is None or not identity.alive()


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[Callable[[Path, bool], tuple[subprocess.Popen[str], int]]]:
    """Start a process that starts an embedded server on a dir; yields (process, server pid)."""
    started: list[tuple[subprocess.Popen[str], Path]] = []

    def start(data_dir: Path, die_with_owner: bool) -> tuple[subprocess.Popen[str], int]:
        flag = "1" if die_with_owner else "0"
        proc = subprocess.Popen(
            [sys.executable, "-c", OWNER, str(data_dir), flag], stdout=subprocess.PIPE, text=True
        )
        started.append((proc, data_dir))
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the child prints once the server is ready
        assert line.strip().isdigit(), f"the owner process failed (status {proc.poll()})"
        return proc, int(line)

    yield start
    for proc, data_dir in started:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        asyncio.run(stop_discovered(data_dir))  # whatever a failed test left running


async def test_an_orphan_is_not_discovered_and_the_next_start_replaces_it(
    tmp_path: Path, owner: Callable[[Path, bool], tuple[subprocess.Popen[str], int]]
) -> None:
    proc, orphan = await asyncio.to_thread(owner, tmp_path, False)
    assert discover(tmp_path) is not None, "alive with its owner: it is shared"
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait)
    assert not gone(orphan)(), "without PDEATHSIG the server outlives its owner"
    record = read_record(tmp_path)
    assert record is not None
    assert record.orphaned()
    assert discover(tmp_path) is None, "nobody will stop an orphan: it must not be adopted"

    async with EmbeddedNats(tmp_path) as server:
        assert gone(orphan)(), "the orphan was stopped before the new server started"
        assert server.replaced is not None
        assert server.replaced.server.pid == orphan
        assert server.replaced.owner.pid == proc.pid
        assert server.pid != orphan
        assert discover(tmp_path) == server.url
        mine = read_record(tmp_path)
        assert mine is not None
        assert mine.owner == ProcessIdentity.current()


async def test_with_pdeathsig_the_server_dies_with_its_owner(
    tmp_path: Path, owner: Callable[[Path, bool], tuple[subprocess.Popen[str], int]]
) -> None:
    proc, server_pid = await asyncio.to_thread(owner, tmp_path, True)
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait)
    await until(gone(server_pid), "the server to follow its owner", 10)
    assert await stop_orphan(tmp_path) is None, "nothing left to stop"
    assert not (tmp_path / INFO_FILE).exists(), "the stale record is cleared"


async def test_a_local_stack_replaces_an_orphan_in_its_home(
    tmp_path: Path, owner: Callable[[Path, bool], tuple[subprocess.Popen[str], int]]
) -> None:
    proc, orphan = await asyncio.to_thread(owner, tmp_path / "nats", False)
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait)
    settings = Settings(home=tmp_path)
    settings.nats.url = None
    async with Stack(settings, controller=False) as stack:
        assert stack.embedded is not None, "an orphan is replaced, not adopted"
        assert stack.embedded.replaced is not None
        assert stack.embedded.replaced.server.pid == orphan
        assert gone(orphan)()
        assert stack.supervisor_task is not None
        assert not stack.supervisor_task.done()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process whose PID a stale record may name."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


def _plant(data_dir: Path, server: ProcessIdentity, owner: ProcessIdentity) -> None:
    record = {
        **server.to_json(),
        **owner.to_json("owner_"),
        "url": "nats://127.0.0.1:1",
        "port": 1,
    }
    (data_dir / INFO_FILE).write_text(json.dumps(record))


@pytest.mark.parametrize(
    "how", ["reused pid (other start time)", "other boot", "same start time, not a nats-server"]
)
async def test_a_recorded_pid_that_is_another_process_is_never_signalled(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], how: str
) -> None:
    real = ProcessIdentity.of(sleeper.pid)
    assert real is not None
    assert real.started is not None
    server = {
        "reused pid (other start time)": ProcessIdentity(sleeper.pid, real.started - 1, real.boot),
        "other boot": ProcessIdentity(sleeper.pid, real.started, "another-boot"),
        "same start time, not a nats-server": real,
    }[how]
    _plant(tmp_path, server, DEAD_OWNER)
    assert discover(tmp_path) is None
    assert await stop_orphan(tmp_path, grace=0.5) is None
    assert await stop_discovered(tmp_path, grace=0.5) is False
    _plant(tmp_path, server, DEAD_OWNER)
    async with EmbeddedNats(tmp_path) as started:
        assert started.replaced is None
    assert sleeper.poll() is None, "the unrelated process was signalled"


async def test_a_command_waits_for_a_live_owner_to_restart_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owner alive, server down (being restarted): wait, then say who to ask; never
    start a second server on the same data dir."""
    import runner.stack

    monkeypatch.setattr(runner.stack, "RESTART_WAIT_SECONDS", 0.5)
    data_dir = tmp_path / "nats"
    data_dir.mkdir()
    dead_server = ProcessIdentity(2**22 + 13, 1, None)
    _plant(data_dir, dead_server, ProcessIdentity.current())
    settings = Settings(home=tmp_path)
    settings.nats.url = None
    with pytest.raises(BusUnavailableError, match=r"has been down for 0.5s: wait for"):
        async with Stack(settings, controller=False):
            pass
    assert not (data_dir / "ports").exists(), "no second server was started"


async def test_a_live_nats_server_with_another_start_time_is_not_the_recorded_one(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """The strictest case: the PID is a nats-server, but not the one recorded."""
    real = ProcessIdentity.of(nats_server.pid)
    assert real is not None
    assert real.started is not None
    _plant(tmp_path, ProcessIdentity(real.pid, real.started + 1, real.boot), DEAD_OWNER)
    assert await stop_orphan(tmp_path, grace=0.5) is None
    _plant(tmp_path, ProcessIdentity(real.pid, real.started + 1, real.boot), DEAD_OWNER)
    assert await stop_discovered(tmp_path, grace=0.5) is False
    assert real.alive(), "the session's nats-server was signalled"
