"""The installer: uv (the ``uv`` wheel's binary), or ``python -m pip`` without it.

Every command runs as an asyncio subprocess (a build never blocks the event
loop), its output captured into the build's log. A command that fails raises
:class:`InstallError` with that log and the installer's own first lines
naming the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import EnvironmentSettings
from runner.errors import PermanentError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROBLEM = re.compile(
    "^\\s*(error|\u00d7|\u2570\u2500\u25b6|cause|caused by|help|hint)", re.IGNORECASE
)
"""uv's ``error:`` / ``cause:`` lines (its fancy ``x`` and arrow too), pip's ``ERROR:``."""
PROBLEM_LINES = 8
"""How many of the installer's lines a failure message quotes."""


class InstallError(PermanentError):
    """An installer command failed; ``log`` is everything it (and the build) printed."""

    def __init__(self, message: str, *, problem: str, log: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.log = log


def find_uv() -> str | None:
    """The uv binary: the ``uv`` package's, else one on ``PATH``; None = use pip."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def problem_lines(output: str, limit: int = PROBLEM_LINES) -> str:
    """The lines of ``output`` naming the problem (:data:`_PROBLEM`), else its last lines."""
    lines = [line.rstrip() for line in _ANSI.sub("", output).splitlines() if line.strip()]
    named = [line for line in lines if _PROBLEM.match(line)]
    if named:
        start = lines.index(named[0])
        return "\n".join(lines[start : start + limit])
    return "\n".join(lines[-limit:])


@dataclass
class Installer:
    """Runs one build's commands, collecting their output in :attr:`log`."""

    settings: EnvironmentSettings
    uv: str | None = field(default_factory=lambda: find_uv())
    log: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "uv" if self.uv else "pip"

    def index_args(self) -> list[str]:
        """The index options of :class:`~runner.config.EnvironmentSettings`."""
        args: list[str] = []
        if self.settings.offline:
            args.append("--no-index")
            if self.uv:
                args.append("--offline")
        elif self.settings.index_url:
            args += ["--index-url", self.settings.index_url]
        if not self.settings.offline:
            for url in self.settings.extra_index_urls:
                args += ["--extra-index-url", url]
        for link in self.settings.find_links:
            args += ["--find-links", link]
        return args

    async def create_venv(self, path: Path) -> None:
        if self.uv:
            await self.run([self.uv, "venv", "--python", sys.executable, str(path)])
        else:
            await self.run([sys.executable, "-m", "venv", str(path)])

    async def install(
        self, python: Path, requirements: Sequence[str], constraints: Path, *, no_deps: bool = False
    ) -> None:
        extra = ["--no-deps"] if no_deps else []
        if self.uv:
            command = [self.uv, "pip", "install", "--python", str(python)]
        else:
            command = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        await self.run([*command, *extra, "-c", str(constraints), *self.index_args(),
                        *requirements])  # fmt: skip

    async def freeze(self, python: Path, site_packages: Path) -> str:
        """``name==version`` of what is installed in the environment itself (not the
        layered runner environment)."""
        if self.uv:
            return await self.run([self.uv, "pip", "freeze", "--python", str(python)])
        return await self.run([str(python), "-m", "pip", "freeze", "--path", str(site_packages)])

    async def compile(
        self, requirements: Sequence[str], constraints: Path, python_version: str, workdir: Path
    ) -> str:
        """Resolve ``requirements`` to exact pins for ``python_version`` (uv only)."""
        if not self.uv:
            raise InstallError(
                "resolving packages for a cluster needs uv, which is not installed: "
                "pip install 'uv>=0.5,<1' in the controller's environment",
                problem="uv is not installed",
                log="",
            )
        source = workdir / "requirements.in"
        source.write_text("".join(f"{r}\n" for r in requirements))
        return await self.run([
            self.uv, "pip", "compile", str(source), "-c", str(constraints),
            "--python-version", python_version, "--no-header", "--no-annotate",
            *self.index_args(),
        ], cwd=workdir)  # fmt: skip

    async def run(self, command: list[str], cwd: Path | None = None) -> str:
        """Run ``command``; its stdout (stderr goes to the log too). Raises
        :class:`InstallError` when it exits non-zero."""
        env = {**os.environ, "NO_COLOR": "1", "UV_PYTHON_DOWNLOADS": "never",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_PROGRESS": "1"}  # fmt: skip
        self.log.append("$ " + " ".join(command))
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        try:
            out, err = await process.communicate()
        except BaseException:  # cancelled or timed out: the installer must not outlive us
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: uv's children too
                await asyncio.shield(process.wait())
            raise
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        self.log += [text.rstrip() for text in (stderr, stdout) if text.strip()]
        if process.returncode != 0:
            self.log.append(f"[exit status {process.returncode}]")
            problem = problem_lines(stderr + "\n" + stdout)
            raise InstallError(
                f"{self.name} failed (exit status {process.returncode}): {problem}",
                problem=problem,
                log=self.text(),
            )
        return stdout

    def text(self) -> str:
        return _ANSI.sub("", "\n".join(self.log)) + "\n"
