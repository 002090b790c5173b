"""The zygote process on its own: when forking is refused, and that it never outlives its
executor (killed with SIGKILL, or its socket closed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.process_identity import ProcessIdentity
from tests.waiting import wait_until

HAZARDS = textwrap.dedent(
    """
    import signal, threading, time
    from runner.step.zygote import capture_baseline, fork_hazard
    capture_baseline()
    print(fork_hazard())
    signal.signal(signal.SIGUSR1, lambda *_: None)
    print(fork_hazard())
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    threading.Thread(target=time.sleep, args=(5,), daemon=True, name="sleeper").start()
    print(fork_hazard())
    """
)

# A stand-in executor: starts a zygote on a socket pair, waits for it to be ready,
# prints its pid, then waits for stdin to close (or to be killed).
EXECUTOR = textwrap.dedent(
    """
    import os, socket, subprocess, sys
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zygote = subprocess.Popen(
        [sys.executable, "-m", "runner.step.zygote", "--fd", str(theirs.fileno()),
         "--parent", str(os.getpid())],
        pass_fds=(theirs.fileno(),), start_new_session=True,
    )
    theirs.close()
    # Another process holds the executor's end too: the zygote sees no EOF when the
    # executor dies, only its parent-death signal can stop it.
    holder = subprocess.Popen(["sleep", "120"], pass_fds=(mine.fileno(),))
    print(mine.recv(65536).decode(), flush=True)
    print(zygote.pid, holder.pid, flush=True)
    sys.stdin.read()
    holder.kill()
    mine.close()
    zygote.wait()
    print("zygote exited", zygote.returncode, flush=True)
    """
)


def test_a_thread_or_a_signal_handler_makes_forking_unsafe() -> None:
    out = subprocess.run(
        [sys.executable, "-c", HAZARDS], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out[0] == "None"
    assert "signal handlers (SIGUSR1)" in out[1]
    assert "started 1 thread(s) (sleeper)" in out[2]


@pytest.mark.parametrize("how", ["executor killed", "socket closed"])
def test_a_zygote_never_outlives_its_executor(how: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", EXECUTOR],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as executor:  # fmt: skip
        try:
            assert executor.stdout is not None
            assert executor.stdin is not None
            ready = executor.stdout.readline()
            assert '"op": "ready"' in ready
            assert '"refused": null' in ready
            zygote_pid, holder = (int(pid) for pid in executor.stdout.readline().split())
            zygote = ProcessIdentity.of(zygote_pid)
            assert zygote is not None
            if how == "executor killed":
                os.kill(executor.pid, signal.SIGKILL)
            else:
                executor.stdin.close()
                assert executor.stdout.readline().strip() == "zygote exited 0"
            wait_until(lambda: not zygote.alive(), f"the zygote to exit ({how})", timeout=20)
        finally:
            executor.kill()
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder, signal.SIGKILL)


def test_the_protocol_garbage_a_preload_and_a_fork_whose_child_exits_2(tmp_path: Path) -> None:
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zygote = subprocess.Popen(
        [sys.executable, "-m", "runner.step.zygote", "--fd", str(theirs.fileno()),
         "--parent", str(os.getpid())],
        pass_fds=(theirs.fileno(),), start_new_session=True,
    )  # fmt: skip
    theirs.close()
    mine.settimeout(60)
    try:
        assert json.loads(mine.recv(65536))["op"] == "ready"
        mine.send(b"this is not json")
        mine.send(json.dumps({"op": "preload", "root": str(tmp_path), "module": "json"}).encode())
        answer = json.loads(mine.recv(65536))
        assert answer == {"op": "preloaded", "module": "json", "error": None, "refused": None}
        log = tmp_path / "log.txt"
        lock = tmp_path / "lock"
        lock.touch()
        read_end, write_end = os.pipe()
        with log.open("ab") as log_file, lock.open("rb") as lock_file:
            fork = {"op": "fork", "id": 1, "request": str(tmp_path / "missing.json"),
                    "env": {"FOO": "bar"}, "cwd": str(tmp_path)}  # fmt: skip
            socket.send_fds(mine, [json.dumps(fork).encode()], [log_file.fileno(),
                            lock_file.fileno(), write_end])  # fmt: skip
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pid_pipe:
            pid = int(pid_pipe.read())  # to EOF: the zygote and the child closed it
        assert pid != zygote.pid
        assert json.loads(mine.recv(65536)) == {"op": "exit", "pid": pid, "code": 2}
        assert "error: cannot read the step request" in log.read_text()
    finally:
        mine.close()  # EOF: the zygote exits
        assert zygote.wait(timeout=30) == 0
