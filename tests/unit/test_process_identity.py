"""ProcessIdentity: a recorded PID names one process, never whoever has the PID later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli import stack
from runner.process_identity import ProcessIdentity, boot_id, start_time

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs procfs")


@linux_only
def test_this_process_is_itself_and_not_with_another_start_time_or_boot() -> None:
    me = ProcessIdentity.current()
    assert me.started is not None
    assert me.boot == boot_id()
    assert me.alive()
    assert ProcessIdentity.of(os.getpid()) == me
    assert not ProcessIdentity(me.pid, me.started + 1, me.boot).alive(), "a reused pid"
    assert not ProcessIdentity(me.pid, me.started, "an-earlier-boot").alive(), "a reboot"


def test_a_finished_process_is_gone_even_as_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity.of(child.pid)
    # Not reaped yet: the zombie must not count as alive.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert identity is None or not identity.alive()
    assert ProcessIdentity.of(child.pid) is None
    child.wait()


def test_json_round_trip_and_garbage() -> None:
    me = ProcessIdentity.current()
    assert ProcessIdentity.from_json(me.to_json("owner_"), "owner_") == me
    for raw in ({}, {"pid": "12"}, {"pid": True}, {"pid": 0}, {"pid": 5, "started": "x"}):
        assert ProcessIdentity.from_json(raw) is None, raw
    assert ProcessIdentity.from_json({"pid": 5}) == ProcessIdentity(5, None, None)


@linux_only
def test_an_up_marker_whose_pid_was_reused_is_stale(tmp_path: Path) -> None:
    me = ProcessIdentity.current()
    assert me.started is not None
    stack.write_up(tmp_path, "nats://127.0.0.1:4222")
    assert stack.read_up(tmp_path) is not None
    reused = {**me.to_json(), "started": me.started - 5, "nats_url": "nats://127.0.0.1:4222"}
    (tmp_path / stack.UP_MARKER).write_text(json.dumps(reused))
    assert stack.read_up(tmp_path) is None, "another process has that pid now"
    rebooted = {**me.to_json(), "boot_id": "an-earlier-boot", "nats_url": "nats://x:1"}
    (tmp_path / stack.UP_MARKER).write_text(json.dumps(rebooted))
    assert stack.read_up(tmp_path) is None


def test_start_time_of_no_process() -> None:
    assert start_time(2**22 + 17) is None
    assert ProcessIdentity.of(2**22 + 17) is None
