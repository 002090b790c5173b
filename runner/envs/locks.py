"""Requirement sets resolved for a cluster: a lock per set, kept in the store.

The controller resolves a component's ``packages`` once with ``uv pip
compile`` for the step image's Python version (constrained, like a local
build, to runner's own distributions), and keeps the lock at
``envs/locks/<digest>.txt`` in the store: content-addressed, reused by every
run until pruned, so the cache key (which includes the lock's digest) is
stable. The pod installs exactly that lock (:mod:`runner.envs.pod`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from runner.config import EnvironmentSettings
from runner.envs.installer import Installer, InstallError
from runner.envs.manager import EnvironmentFailedError, PreparedEnvironment, SharedBuilds
from runner.envs.requirements import (
    constraints_text,
    environment_digest,
    freeze_digest,
    own_distributions,
    requirement_set,
)

LOCK_ENV = "RUNNER_PACKAGES_LOCK"
"""Environment variable of a step pod: the base64 lock its ``packages`` resolved to."""
LOCK_PREFIX = "envs/locks/"

GetLock = Callable[[str], Awaitable[bytes | None]]
PutLock = Callable[[str, bytes], Awaitable[None]]


def lock_key(digest: str) -> str:
    return f"{LOCK_PREFIX}{digest}.txt"


def encode_lock(lock: str) -> str:
    return base64.b64encode(lock.encode()).decode()


def decode_lock(value: str) -> str:
    return base64.b64decode(value).decode()


def pod_index_env(settings: EnvironmentSettings) -> dict[str, str]:
    """The ``RUNNER_ENVS_*`` a pod installs with (URLs lose their user-info in the
    request: a private index's credentials go in the credentials Secret, e.g. as
    ``UV_INDEX_URL``)."""
    env: dict[str, str] = {}
    if settings.index_url:
        env["RUNNER_ENVS_INDEX_URL"] = settings.index_url
    if settings.extra_index_urls:
        env["RUNNER_ENVS_EXTRA_INDEX_URLS"] = json.dumps(settings.extra_index_urls)
    if settings.find_links:
        env["RUNNER_ENVS_FIND_LINKS"] = json.dumps(settings.find_links)
    if settings.offline:
        env["RUNNER_ENVS_OFFLINE"] = "true"
    env["RUNNER_ENVS_BUILD_TIMEOUT_SECONDS"] = f"{settings.build_timeout_seconds:g}"
    return env


class ClusterLocks:
    """Locks for the Kubernetes executor's steps, resolved by the controller."""

    def __init__(
        self,
        *,
        get: GetLock,
        put: PutLock,
        settings: EnvironmentSettings | None = None,
        python_version: str,
    ) -> None:
        self.get = get
        self.put = put
        self.settings = settings or EnvironmentSettings()
        self.python_version = python_version
        self.resolved = 0
        """Locks this process resolved (not found in the store)."""
        self._ready: dict[str, PreparedEnvironment] = {}
        self._shared = SharedBuilds()

    def prepare(
        self, packages: Sequence[str]
    ) -> PreparedEnvironment | asyncio.Task[PreparedEnvironment]:
        requirements = requirement_set(packages)
        python = {"version": self.python_version, "implementation": "cpython", "executable": ""}
        digest = environment_digest(requirements, self.settings, python)
        ready = self._ready.get(digest)
        if ready is not None:
            return ready
        return self._shared.task(digest) or self._shared.start(
            digest, self._resolve(digest, requirements)
        )

    async def _resolve(self, digest: str, requirements: list[str]) -> PreparedEnvironment:
        data = await self.get(lock_key(digest))
        if data is None:
            lock = await self._compile(requirements)
            await self.put(lock_key(digest), lock.encode())
            self.resolved += 1
        else:
            lock = data.decode()
        prepared = PreparedEnvironment(
            digest=digest,
            requirements=requirements,
            freeze_digest=freeze_digest(lock),
            step_env={LOCK_ENV: encode_lock(lock), **pod_index_env(self.settings)},
        )
        self._ready[digest] = prepared
        return prepared

    async def _compile(self, requirements: list[str]) -> str:
        installer = Installer(self.settings)
        with tempfile.TemporaryDirectory(prefix="runner-lock-") as tmp:
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text(constraints_text(own_distributions()))
            try:
                async with asyncio.timeout(self.settings.build_timeout_seconds):
                    return await installer.compile(
                        requirements, constraints, self.python_version, Path(tmp)
                    )
            except InstallError as exc:
                raise EnvironmentFailedError(
                    requirements,
                    exc.problem,
                    exc.log,
                    fix="check that each requirement exists on the index the controller uses "
                    f"and supports Python {self.python_version} "
                    "(RUNNER_K8S_PACKAGES_PYTHON_VERSION); the index comes from the [envs] "
                    "settings (RUNNER_ENVS_INDEX_URL, RUNNER_ENVS_FIND_LINKS)",
                ) from exc
            except TimeoutError as exc:
                raise EnvironmentFailedError(
                    requirements,
                    f"resolving took longer than {self.settings.build_timeout_seconds:g}s",
                    installer.text(),
                    fix="raise RUNNER_ENVS_BUILD_TIMEOUT_SECONDS",
                ) from exc

    async def aclose(self) -> None:
        await self._shared.aclose()
