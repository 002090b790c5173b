"""Fault-injection harness: a ``runner up`` stack in a scratch home, driven
through the CLI as a user does, and killed the way machines die.

:class:`Stack` starts ``runner up --home H`` in its own process group (its
output to a log file outside the home), submits runs with ``runner run
--detach``, reads them back with ``runner status RUN --json``, and finds
every process that belongs to the home by scanning ``/proc`` — ``runner up``
itself, its nats-server and the step processes (their command line or
working directory names the home) — so that "kill everything" really is
everything. Processes are only ever signalled by PID, and only while their
start time is still the one seen in the scan (a PID can be reused).

Its :class:`~tests.chaos.ledger.Ledger` reads what the steps of
:mod:`tests.chaos.pipeline` wrote: the ground truth of how often each step
really executed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.bus import EmbeddedNats
from tests.chaos.ledger import Entry, Ledger
from tests.chaos.pipeline import SOURCE, STEPS
from tests.chaos.procs import Proc, scan, signal_procs, stat_of, wait_gone
from tests.e2e.conftest import CLI, Result, clean_env
from tests.fixtures.nats import run_in_thread
from tests.waiting import wait_until

UP_READY_SECONDS = 60.0
RUN_DEADLINE = 60.0
"""How long a run may take to reach its outcome after the fault (and restart)."""
STATUS_EVERY = 5.0
"""While the ledger shows no finished last step, ``runner status`` is asked this often
(each call is a Python process: polling faster would steal the steps' CPU)."""


# -- the stack ---------------------------------------------------------------------------


class StackDied(AssertionError):
    pass


@dataclass
class Stack:
    """One runner home, the ``runner up`` processes started on it, and what they printed."""

    root: Path
    env: dict[str, str] = field(default_factory=clean_env)
    up: subprocess.Popen[bytes] | None = None
    up_log: Path | None = None
    starts: int = 0
    transcript: list[Result] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    settings_args: tuple[str, ...] = ()
    """Extra settings flags every command gets (``--nats URL``)."""
    external: EmbeddedNats | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.ledger = Ledger(self.root / "ledger.txt")
        folder = self.root / "pipeline"
        folder.mkdir(exist_ok=True)
        self.pipeline = folder / "chaos_pipeline.py"
        self.pipeline.write_text(SOURCE)

    def start_external_nats(self, user: str | None = None, password: str | None = None) -> str:
        """A nats-server outside the home (as on a cluster: it outlives any controller);
        stopped by :meth:`cleanup`. Its ``nats://host:port`` URL, without credentials."""
        self.external = EmbeddedNats(self.root / "external-nats", user=user, password=password)
        return run_in_thread(self.external.start())

    def external_alive(self) -> bool:
        pid = self.external.pid if self.external is not None else None
        stat = stat_of(pid) if pid is not None else None
        return stat is not None and stat[0] not in ("Z", "X")

    def ensure_up(self) -> None:
        """``runner up`` running: after a failed moment, clear the home and start it again."""
        if self.up is None or self.up.poll() is not None:
            self.kill()
            self.start_up()

    # -- commands --

    def cli(self, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Result:
        argv = [*args, "--home", str(self.home), *self.settings_args]
        try:
            proc = subprocess.run(
                [*CLI, *argv],
                cwd=self.root,
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"runner {' '.join(argv)} did not finish within {timeout}s ({exc})")
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        self.transcript.append(result)
        return result

    def start_up(self, timeout: float = UP_READY_SECONDS) -> subprocess.Popen[bytes]:
        """Start ``runner up`` (own process group) and wait for its ``ready`` line."""
        self.starts += 1
        self.up_log = self.root / f"up-{self.starts}.log"
        with self.up_log.open("wb") as log:
            self.up = subprocess.Popen(
                [*CLI, "up", "--home", str(self.home), *self.settings_args],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append(self.up)
        up = self.up

        def ready() -> bool:
            if any(line.startswith("ready") for line in self.up_output().splitlines()):
                return True
            if up.poll() is not None:
                pytest.fail(f"runner up exited {up.returncode} before ready:\n{self.tail()}")
            return False

        wait_until(ready, "runner up to be ready", timeout, detail=self.tail)
        return up

    def up_output(self) -> str:
        return self.up_log.read_text(errors="replace") if self.up_log else ""

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.up_output().splitlines()[-lines:])

    def check_up_alive(self) -> None:
        if self.up is None or self.up.poll() is not None:
            code = None if self.up is None else self.up.returncode
            errors = [line for line in self.up_output().splitlines() if line.startswith("error")]
            why = errors[-1] if errors else "no error line"
            raise StackDied(f"runner up is gone (exit status {code}): {why}\n{self.tail()}")

    def submit(self, tag: str, seconds: float = 1.5) -> tuple[str, float]:
        """Submit a run to the stack; its id and the wall-clock time it was submitted."""
        result = self.cli(
            "run", str(self.pipeline), "--detach", "--no-cache",
            "-p", f"ledger={self.ledger.path}", "-p", f"tag={tag}", "-p", f"seconds={seconds}",
        )  # fmt: skip
        assert result.returncode == 0, result
        return result.stdout.split()[0], time.time()

    def status(self, run: str) -> dict[str, Any] | None:
        result = self.cli("status", run, "--json", timeout=45)
        if result.returncode != 0:
            return None
        record: dict[str, Any] = json.loads(result.stdout)
        return record

    def wait_for_run(
        self, run: str, want: str = "succeeded", timeout: float = RUN_DEADLINE
    ) -> dict[str, Any]:
        """Wait for ``run`` to end as ``want``; fail at once if it ends otherwise or
        ``runner up`` dies, and at the deadline if it is stuck.

        The ledger is watched (cheap); ``runner status`` is asked when the last
        step has finished, and every :data:`STATUS_EVERY` seconds otherwise."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        asked = 0.0
        while True:
            self.check_up_alive()
            now = time.monotonic()
            if self.ledger.ended(run, STEPS[-1]) or now - asked > STATUS_EVERY:
                asked = now
                last = self.status(run)
                status = last["status"] if last else None
                if status == want:
                    return last  # type: ignore[return-value]
                if status in ("succeeded", "failed", "cancelled"):
                    pytest.fail(f"run {run} ended {status}, not {want}: {describe(last)}")
            if now > deadline:
                pytest.fail(
                    f"run {run} did not end {want} within {timeout}s (stuck): {describe(last)}\n"
                    f"ledger: {self.ledger.executions(run)}\nrunner up said:\n{self.tail()}"
                )
            time.sleep(0.5 if self.ledger.ended(run, STEPS[-1]) else 0.1)

    # -- faults --

    def processes(self) -> list[Proc]:
        return scan(self.home)

    def kill(self, keep: tuple[str, ...] = ()) -> list[Proc]:
        """SIGKILL every process of the home except the kinds in ``keep``, until none is left
        (a process started while the first ones die is killed too). Returns what was killed."""
        killed: list[Proc] = []
        deadline = time.monotonic() + 15
        while victims := [p for p in self.processes() if p.kind not in keep]:
            signal_procs(victims)
            killed += [p for p in victims if p not in killed]
            if time.monotonic() > deadline:
                pytest.fail(f"could not kill {', '.join(map(str, victims))} within 15s")
            time.sleep(0.02)
        wait_gone(killed, 10, "SIGKILLed processes")
        self._reap()
        return killed

    def kill_everything(self) -> list[Proc]:
        return self.kill()

    def kill_controller_and_steps(self) -> list[Proc]:
        return self.kill(keep=("nats-server",))

    def nats_servers(self) -> list[Proc]:
        return [p for p in self.processes() if p.kind == "nats-server"]

    def _reap(self) -> None:
        for child in self.children:
            child.poll()  # collects the exit status of a dead child: no zombie left

    def stop_up(self, sig: signal.Signals, timeout: float = 30.0) -> int:
        """Send ``sig`` to ``runner up`` (by PID) and wait for it to exit."""
        assert self.up is not None
        self.up.send_signal(sig)
        try:
            return self.up.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runner up did not exit within {timeout}s of {sig.name}:\n{self.tail()}")

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a helper process that :meth:`cleanup` ends (by PID)."""
        proc = subprocess.Popen(argv, **kwargs)
        self.children.append(proc)
        return proc

    def cleanup(self) -> None:
        """Kill, by PID, everything of the home and every process this stack started."""
        for child in self.children:
            if child.poll() is None:
                child.kill()
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)
        for proc in scan(self.home):
            signal_procs([proc])
        if self.external is not None:
            run_in_thread(self.external.stop())


def describe(record: dict[str, Any] | None) -> str:
    if record is None:
        return "no status (runner status failed)"
    steps = ", ".join(
        f"{name} {s['status']} (attempts {s['attempts']})" for name, s in record["steps"].items()
    )
    return f"status {record['status']}, error {record.get('error')}; steps: {steps}"


def sleep_until(moment: float) -> None:
    """Wait for a wall-clock moment chosen for a fault (not a wait for a condition)."""
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def wait_for_step(stack: Stack, run: str, step: str, timeout: float = RUN_DEADLINE) -> Entry:
    """The ledger entry of ``step`` starting in ``run``."""

    def started() -> Entry | None:
        entry = stack.ledger.started(run, step)
        if entry is None:
            stack.check_up_alive()
        return entry

    return wait_until(started, f"step {step} of {run} to start", timeout, detail=stack.tail)
