"""Environments on demand: one shared build per digest, reused across runs.

:meth:`EnvironmentManager.prepare` answers at once when the environment is
complete on disk (its marker says so), else with the one build task of that
digest in this process: every step asking for the same requirement set
awaits the same task (the in-process lock), and the build itself holds the
cross-process ``flock`` of ``<digest>.lock``, so a second controller or
``runner run`` waits and then finds it built. A failed build is not
remembered: the next attempt asking for the set builds again.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.config import EnvironmentSettings
from runner.envs import layout
from runner.envs.build import build, file_lock
from runner.envs.installer import Installer, InstallError
from runner.envs.requirements import environment_digest, requirement_set, sha256_hex
from runner.errors import PermanentError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedEnvironment:
    """An environment a step can use."""

    digest: str
    requirements: list[str]
    freeze_digest: str
    """Digest of the exact resolved versions: part of the step's cache key."""
    python: str | None = None
    """The environment's interpreter (local executor); None on a cluster."""
    step_env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the step (on a cluster: the lock the pod installs)."""


class EnvironmentFailedError(PermanentError):
    """A requirement set could not be resolved or installed."""

    def __init__(
        self, requirements: Sequence[str], problem: str, log: str, *, fix: str | None = None
    ) -> None:
        super().__init__(f"could not build an environment for {list(requirements)}: {problem}")
        self.requirements = list(requirements)
        self.problem = problem
        self.log = log
        self.fix = fix or (
            "check that each requirement names a project and versions that exist on the "
            "index and are compatible with runner's own dependencies (they are pinned) and "
            f"Python {platform.python_version()}; the index comes from the [envs] settings "
            "(RUNNER_ENVS_INDEX_URL, RUNNER_ENVS_FIND_LINKS, RUNNER_ENVS_OFFLINE)"
        )

    def describe(self, component: str) -> str:
        """The step's error message: the component, the set, the installer's words, the fix."""
        return (
            f"component '{component}': its packages {self.requirements} could not be "
            f"installed:\n{self.problem}\nFix: {self.fix}. The installer's full output is "
            "this attempt's log (runner logs RUN STEP)."
        )


class StepEnvironments(Protocol):
    """What the controller's effects need: an environment per requirement set."""

    def prepare(
        self, packages: Sequence[str]
    ) -> PreparedEnvironment | asyncio.Task[PreparedEnvironment]:
        """The environment now, or the task building it (it raises
        :class:`EnvironmentFailedError` when the set cannot be installed)."""
        ...

    async def aclose(self) -> None:
        """Stop builds in flight (what they left half-built is discarded later)."""
        ...


def environment_cache_key(cache_key: str, freeze_digest: str) -> str:
    """The step's cache key with the environment's exact versions in it."""
    return sha256_hex((cache_key + freeze_digest).encode())


class SharedBuilds:
    """One task per digest in this process; owned here, cancelled by :meth:`aclose`."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[PreparedEnvironment]] = {}

    def task(self, digest: str) -> asyncio.Task[PreparedEnvironment] | None:
        return self._tasks.get(digest)

    def start(
        self, digest: str, coro: Coroutine[Any, Any, PreparedEnvironment]
    ) -> asyncio.Task[PreparedEnvironment]:
        task = asyncio.create_task(coro, name=f"environment-build:{digest[:12]}")
        self._tasks[digest] = task

        def forget(done: asyncio.Task[PreparedEnvironment]) -> None:
            if self._tasks.get(digest) is done:
                del self._tasks[digest]  # a failure is not remembered: the next asks again
            if not done.cancelled() and done.exception() is not None:
                log.debug("environment %s failed: %s", digest[:12], done.exception())

        task.add_done_callback(forget)
        return task

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class EnvironmentManager:
    """Local environments under ``<home>/envs`` (the local executor's steps)."""

    def __init__(self, home: Path, settings: EnvironmentSettings | None = None) -> None:
        self.home = home
        self.settings = settings or EnvironmentSettings()
        self.builds = 0
        """Environments this manager built (not found complete)."""
        self._shared = SharedBuilds()

    def digest_of(self, packages: Sequence[str]) -> tuple[str, list[str]]:
        requirements = requirement_set(packages)
        return environment_digest(requirements, self.settings), requirements

    def prepare(
        self, packages: Sequence[str]
    ) -> PreparedEnvironment | asyncio.Task[PreparedEnvironment]:
        digest, requirements = self.digest_of(packages)
        path = layout.env_dir(self.home, digest)
        record = layout.read_record(path)
        if record is not None and record.digest == digest:  # complete: the marker is last
            layout.touch_used(path)
            return _prepared(path, record)
        running = self._shared.task(digest)
        if running is not None:
            return running
        return self._shared.start(digest, self._ensure(digest, requirements))

    async def _ensure(self, digest: str, requirements: list[str]) -> PreparedEnvironment:
        path = layout.env_dir(self.home, digest)
        try:
            async with file_lock(layout.lock_path(path)):
                record = layout.read_record(path)  # another process may have built it
                if record is None or record.digest != digest:
                    record = await self._build(path, digest, requirements)
            layout.touch_used(path)
        except OSError as exc:  # the lock or the directory: the home is not writable
            raise EnvironmentFailedError(
                requirements, str(exc), f"{exc}\n",
                fix=f"check that {path.parent} is writable and has free space",
            ) from exc  # fmt: skip
        return _prepared(path, record)

    async def _build(
        self, path: Path, digest: str, requirements: list[str]
    ) -> layout.EnvironmentRecord:
        installer = Installer(self.settings)
        log.info("building the environment %s for %s", digest[:12], requirements)
        try:
            async with asyncio.timeout(self.settings.build_timeout_seconds):
                record = await build(path, digest, requirements, self.settings, installer)
        except InstallError as exc:
            await asyncio.to_thread(layout.remove_dir, path)
            raise EnvironmentFailedError(requirements, exc.problem, exc.log) from exc
        except TimeoutError as exc:
            await asyncio.to_thread(layout.remove_dir, path)
            seconds = self.settings.build_timeout_seconds
            raise EnvironmentFailedError(
                requirements,
                f"the build took longer than {seconds:g}s and was stopped",
                installer.text(),
                fix="raise RUNNER_ENVS_BUILD_TIMEOUT_SECONDS ([envs] build_timeout_seconds), "
                "or use an index or find_links closer to this machine",
            ) from exc
        except OSError as exc:
            await asyncio.to_thread(layout.remove_dir, path)
            raise EnvironmentFailedError(
                requirements,
                f"{exc}",
                installer.text() + f"{exc}\n",
                fix=f"check that {path.parent} is writable and has free space",
            ) from exc
        self.builds += 1
        log.info("built the environment %s in %.1fs", digest[:12], record.build_seconds)
        return record

    async def aclose(self) -> None:
        await self._shared.aclose()


def _prepared(path: Path, record: layout.EnvironmentRecord) -> PreparedEnvironment:
    return PreparedEnvironment(
        digest=record.digest,
        requirements=list(record.requirements),
        freeze_digest=record.freeze_digest,
        python=str(layout.python_of(path)),
    )
