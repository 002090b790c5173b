"""A warm worker (zygote): an interpreter with the step runtime imported, forked per attempt.

``python -m runner.step.zygote --fd N --parent PID`` is started by the local
executor (:mod:`runner.executors.warm`), one per step interpreter and code
package. It imports everything a step needs before ``step.started``
(:data:`RUNTIME_MODULES`), then serves requests on the ``SOCK_SEQPACKET``
socket ``N`` (one JSON message each; file descriptors ride along with
``SCM_RIGHTS``):

- ``{"op": "fork", "request": PATH, "env": {...}, "cwd": DIR}`` with the
  attempt's log, lock and pid-pipe fds: ``fork()``; the child becomes the
  attempt (:func:`_become_attempt`) and runs ``runner.step.main.main``;
- ``{"op": "preload", "root": DIR, "module": NAME}``: import a component's
  module (and so its top-level imports) from an extracted code package.

and answers ``ready`` (after the runtime preload), ``preloaded``,
``fork_failed`` and ``exit`` (``{"pid": P, "code": C}``: the exit code of a
child it reaped, or minus the signal that killed it).

Forking is only safe in a single-threaded process that has not initialised
CUDA: after every preload the zygote checks that it still has one thread,
no CUDA driver loaded and the signal handlers it started with
(:func:`fork_hazard`). If a preload broke that, the zygote refuses every
later fork (``fork_failed`` with the reason) and says so in its answer; it
still reaps and reports the children it already has.

The child tells its pid itself, on the pipe the executor passed: if the
zygote dies between ``fork()`` and its answer, the executor still learns
that the attempt runs (and EOF without a pid means it never started). The
zygote dies with its executor (``PR_SET_PDEATHSIG``, and it exits on EOF of
its socket); its running children do not: each is a session of its own,
watched by the executor through its pid and its lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import logging
import os
import random
import select
import signal
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from runner.privacy import restrict_umask

__all__ = ["RUNTIME_MODULES", "capture_baseline", "fork_hazard", "main", "set_title"]

log = logging.getLogger("runner.step.zygote")

RUNTIME_MODULES = (
    "runner.step.main",
    "runner.step.request",
    "runner.step.report",
    "runner.step.artifacts",
    "runner.step.loop",
    "runner.store.factory",
    "runner.store.file",
    "runner.store.codepkg",
    "runner.store.manifests",
    "runner.dsl.invoke",
    "runner.dsl.artifacts",
    "runner.telemetry.step",
    "runner.events.auth",
    "runner.events.envelope",
    "runner.config",
    "runner.bus.client",
    "runner.bus.nats_import",
    "nats",
    "nats.aio.client",
    "nats.js",
    "pydantic",
    "argparse",
    "concurrent.futures.thread",
)
"""What a step imports before it reports ``step.started`` (and soon after), imported
eagerly here: the step process itself imports lazily to start fast when cold."""

TRACING_MODULES = ("runner.telemetry.setup",)
"""Imported too when the environment turns tracing on: the OpenTelemetry SDK and the
file exporter, which a step imports only then (an OTLP exporter is not preloaded)."""

MAX_MESSAGE = 4 * 1024 * 1024
"""Largest request (its environment included) the socket carries."""
MAX_FDS = 3
PR_SET_PDEATHSIG = 1

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
_CATCHABLE = sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
_BASELINE: dict[int, _SignalHandler] = {}
"""The signal handlers of a fresh interpreter (SIGPIPE ignored, SIGINT raising
KeyboardInterrupt...), captured before any preload: a child gets these back."""
_START_PATH0 = sys.path[0] if sys.path else ""


def capture_baseline() -> None:
    for sig in _CATCHABLE:
        with contextlib.suppress(OSError, ValueError):
            _BASELINE[sig] = signal.getsignal(sig)


def fork_hazard() -> str | None:
    """Why forking this process now would be unsafe; None when it is safe."""
    count = threading.active_count()
    if count != 1:
        main = threading.main_thread()
        names = ", ".join(sorted(t.name for t in threading.enumerate() if t is not main))
        return f"it started {count - 1} thread(s) ({names}): a fork copies no thread, only locks"
    if _cuda_loaded():
        return "it loaded the CUDA driver; a forked child cannot use a CUDA context of its parent"
    changed = [
        signal.Signals(sig).name
        for sig, handler in _BASELINE.items()
        if sig != signal.SIGCHLD and _handler_changed(sig, handler)
    ]
    if changed:
        return (
            f"it installed signal handlers ({', '.join(changed)}) at import; a forked step "
            "starts with a fresh interpreter's handlers, so they would be lost"
        )
    return None


def _handler_changed(sig: int, handler: _SignalHandler) -> bool:
    try:
        return signal.getsignal(sig) != handler
    except (OSError, ValueError):
        return False


def _cuda_loaded() -> bool:
    """Cheap: is the CUDA driver library mapped into this process?"""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return "libcuda.so" in maps


TITLE_ROOM = 2048
"""Bytes of command line a zygote is started with (``--title-room``), so that its forks
can show ``python -m runner.step --request FILE`` in ``ps`` as a cold step would."""


def set_title(argv: Sequence[str]) -> None:
    """Make this process's command line (``/proc/self/cmdline``, what ``ps`` shows) read
    ``argv``, within the room of the one it was started with; best effort (Linux)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
        current = Path("/proc/self/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    room = end - start
    # Written only where the kernel says the command line is, and only if it is there.
    if room <= 1 or ctypes.string_at(start, room) != current:
        return
    title = b"\0".join(a.encode(errors="replace") for a in argv)[: room - 1]
    ctypes.memmove(start, title.ljust(room, b"\0"), room)


def _complete_models() -> None:
    """Build the validators runner's models defer to their first use (``defer_build``):
    built here once, not again in every forked step."""
    from pydantic import BaseModel

    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        deferred = type(getattr(cls, "__pydantic_validator__", None)).__name__ == "MockValSer"
        if cls.__module__.startswith("runner.") and deferred:
            with contextlib.suppress(Exception):  # a model that cannot be built yet stays lazy
                cls.model_rebuild(force=True)


def _tracing_modules() -> tuple[str, ...]:
    from runner.errors import ConfigError
    from runner.telemetry.config import Export, load_telemetry_settings

    try:
        tracing = load_telemetry_settings().export() is not Export.NONE
    except ConfigError:  # the step says so itself, and traces nothing
        return ()
    return TRACING_MODULES if tracing else ()


def _die_with_parent(parent: int) -> None:
    """Exit when the executor's process goes, however it went (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the prctl took effect
        os._exit(0)


class Zygote:
    """The serving loop: fork on request, reap children, report their exits."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.refused: str | None = None
        self.children: set[int] = set()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def preload_runtime(self, extra: list[str]) -> None:
        for name in (*RUNTIME_MODULES, *_tracing_modules(), *extra):
            try:
                importlib.import_module(name)
            except ImportError as exc:  # the child imports it (and fails) itself
                log.warning("warm worker: cannot preload %s: %s", name, exc)
        _complete_models()
        hazard = fork_hazard()
        if hazard is not None:
            self.refused = f"preloading the step runtime: {hazard}"
        gc.freeze()  # what is imported stays shared: a child's collections do not copy it
        self._send({"op": "ready", "pid": os.getpid(), "refused": self.refused})

    def serve(self) -> None:
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, _ignore)
        while True:
            readable, _, _ = select.select([self.sock.fileno(), self._wake_r], [], [])
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
            self._reap()
            if self.sock.fileno() in readable and not self._receive():
                return

    def _receive(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, MAX_FDS)
        except InterruptedError:
            return True
        except OSError:
            return False
        if not data:  # the executor closed its end: it stopped or died
            for fd in fds:
                os.close(fd)
            return False
        try:
            try:
                message = json.loads(data)
            except ValueError:
                log.warning("warm worker: ignored a message that is not JSON: %r", data[:200])
                return True
            if message.get("op") == "fork":
                self._fork(message, fds)
            elif message.get("op") == "preload":
                self._preload(message)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        return True

    def _fork(self, message: dict[str, Any], fds: list[int]) -> None:
        ident = message.get("id")
        if self.refused is not None:
            self._send({"op": "fork_failed", "id": ident, "error": f"refused: {self.refused}"})
            return
        if len(fds) != MAX_FDS:
            self._send({"op": "fork_failed", "id": ident, "error": f"got {len(fds)} fds, not 3"})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            self._send({"op": "fork_failed", "id": ident, "error": f"fork: {exc}"})
            return
        if pid == 0:
            _become_attempt(self, message, log_fd=fds[0], lock_fd=fds[1], pid_fd=fds[2])
        self.children.add(pid)

    def _preload(self, message: dict[str, Any]) -> None:
        module, root = str(message.get("module")), message.get("root")
        error: str | None = None
        if root and root not in sys.path:
            sys.path.insert(0, str(root))
        try:
            importlib.import_module(module)
        except BaseException as exc:  # a user's module may raise anything
            error = f"{type(exc).__name__}: {exc}"
            log.warning("warm worker: cannot preload %s: %s", module, error)
        hazard = fork_hazard() if self.refused is None else None
        if hazard is not None:
            self.refused = f"preloading {module}: {hazard}"
            log.warning("warm worker: refuses to fork from now on: %s", self.refused)
        gc.freeze()
        self._send({"op": "preloaded", "module": module, "error": error, "refused": hazard})

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self._send({"op": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def _send(self, message: Mapping[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the executor is gone: EOF ends the loop
            self.sock.sendall(json.dumps(message).encode())

    def close_in_child(self) -> None:
        signal.set_wakeup_fd(-1)
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _ignore(_sig: int, _frame: FrameType | None) -> None:
    """SIGCHLD only has to wake ``select`` (through the wakeup fd)."""


def _become_attempt(
    zygote: Zygote, message: dict[str, Any], *, log_fd: int, lock_fd: int, pid_fd: int
) -> NoReturn:
    """In the forked child: become the attempt's step process, as a fresh one would be."""
    code = 70  # EX_SOFTWARE: the setup below failed
    try:
        os.setsid()  # its own process group first: the executor kills the group from now on
        os.write(pid_fd, f"{os.getpid()}\n".encode())
        os.close(pid_fd)
        zygote.close_in_child()
        for sig, handler in _BASELINE.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        for fd in (null, log_fd):
            os.close(fd)
        os.set_inheritable(lock_fd, True)  # as pass_fds makes it on the cold path
        _close_fds_except({0, 1, 2, lock_fd})
        cwd = str(message["cwd"])
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(message["env"]).items()})
        tempfile.tempdir = None  # recomputed from this attempt's TMPDIR
        random.seed()
        if sys.path and sys.path[0] == _START_PATH0:
            sys.path[0] = cwd  # ``python -m`` puts its working directory first
        logging.root.handlers.clear()  # main() configures logging as in a fresh process
        request = str(message["request"])
        sys.argv = [str(Path(__file__).with_name("__main__.py")), "--request", request]
        set_title([sys.orig_argv[0], "-m", "runner.step", "--request", request])
        from runner.step.main import main as step_main

        code = 1  # from here on, as an uncaught exception ends a fresh interpreter
        code = step_main(["--request", request])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # whatever happens, the attempt exits with a status
        traceback.print_exc()
    finally:
        _finish(code)
    raise AssertionError("unreachable")  # _finish never returns


def _finish(code: int) -> NoReturn:
    """Exit as an interpreter would (non-daemon threads joined, atexit run), minus its teardown."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        import atexit

        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _close_fds_except(keep: set[int]) -> None:
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 1024))
    for fd in open_fds:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m runner.step.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the executor's socket (inherited)")
    parser.add_argument("--parent", type=int, required=True, help="the executor's pid")
    parser.add_argument("--preload", action="append", default=[], help="another module to import")
    parser.add_argument("--title-room", default="", help="room for the forks' command lines")
    args = parser.parse_args(argv)
    capture_baseline()  # before any preload can change a handler
    _die_with_parent(args.parent)
    set_title([a for a in sys.orig_argv if not a.startswith("--title-room")])
    restrict_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sock = socket.socket(fileno=args.fd)
    zygote = Zygote(sock)
    zygote.preload_runtime(list(args.preload))
    zygote.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
