"""Drive the ``runner`` CLI as a user does: a subprocess in a scratch directory.

Each test gets a fresh working directory with no runner configuration in its
environment, so the CLI uses the embedded default (``./.runner``). Every
process a test starts is stopped by PID: ``runner up`` by the fixture that
started it, and any embedded nats-server a crashed command might leave
behind by its recorded PID (``stop_discovered``).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.bus import stop_discovered

CLI = [sys.executable, "-m", "runner.cli"]
DEFAULT_TIMEOUT = 90.0


@dataclass(repr=False)
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:  # what an assertion message shows
        return (
            f"runner {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any runner/NATS/S3 settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RUNNER_", "NATS_", "AWS_", "OTEL_")) and k != "COLUMNS"
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Workspace:
    """A scratch project directory and a way to run ``runner`` in it."""

    root: Path
    env: dict[str, str] = field(default_factory=clean_env)
    homes: set[Path] = field(default_factory=set)

    def write(self, name: str, source: str) -> Path:
        path = self.root / name
        path.write_text(source)
        return path

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT, **env: str) -> Result:
        self._note_home(args)
        proc = subprocess.run(
            [*CLI, *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(list(args), proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str) -> Background:
        """Start ``runner ARGS`` in the background (stdout and stderr merged)."""
        self._note_home(args)
        return Background(
            subprocess.Popen(
                [*CLI, *args],
                cwd=self.root,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )

    def _note_home(self, args: tuple[str, ...]) -> None:
        if "--home" in args:
            self.homes.add(self.root / args[args.index("--home") + 1])


class Background:
    """A CLI process whose output lines are collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first new output line matching ``predicate``; fails at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no matching line within {timeout}s; output so far:\n{self.output}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the process ended without a matching line:\n{self.output}")
            self.lines.append(line)
            if predicate(line):
                return line

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C; the exit status once the process has ended."""
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._collect()  # what it said it waits for (after 20 s it says so)
            pytest.fail(f"did not stop within {timeout:g}s of Ctrl-C; output:\n{self.output}")
        self._reader.join(timeout=5)
        self._collect()
        return code

    def _collect(self) -> None:
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path)
    yield workspace
    # Safety net: a command killed by a timeout cannot stop its nats-server itself.
    for home in {tmp_path / ".runner", *workspace.homes}:
        stop_leftover_server(home)


def stop_leftover_server(home: Path) -> None:
    """Stop an embedded nats-server still recorded under ``home`` (by its PID).

    In a thread: ``asyncio.run`` must not touch the event loop pytest-asyncio
    keeps for this thread.
    """
    worker = threading.Thread(target=lambda: asyncio.run(stop_discovered(home / "nats")))
    worker.start()
    worker.join(timeout=30)


@pytest.fixture
def background(ws: Workspace) -> Iterator[Callable[..., Background]]:
    """Start CLI processes that the test ends; whatever is left is stopped by PID."""
    started: list[Background] = []

    def start(*args: str) -> Background:
        process = ws.start(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
