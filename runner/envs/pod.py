"""The pod side of ``packages`` on a cluster: install the lock, or see that the image has it.

A step image that already has every pinned version (checked with
``importlib.metadata``; the requirement specifiers when there is no lock)
installs nothing. Otherwise a layered virtualenv like a local one is built
in the pod's work directory with uv, from the lock, with no dependency
resolution (the lock is complete), constrained to the image's own
distributions; uv's cache is ``UV_CACHE_DIR`` (a volume when
``packages_cache_pvc`` is set).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from runner.config import EnvironmentSettings
from runner.envs import layout
from runner.envs.build import build
from runner.envs.installer import Installer, InstallError
from runner.envs.manager import EnvironmentFailedError
from runner.envs.requirements import environment_digest, provided_pin, requirement_set

POD_ENV_DIR = "runner-env"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)\s*(;.*)?$")


def lock_lines(lock: str) -> list[str]:
    return [line.strip() for line in lock.splitlines() if line.strip() and line[0] != "#"]


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _same_version(a: str, b: str) -> bool:
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # pragma: no cover - packaging ships with nearly every image
        return a == b
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def lock_satisfied(lock: str) -> bool:
    """Whether this interpreter already has every version pinned in ``lock``."""
    for line in lock_lines(lock):
        match = _PIN.match(line)
        if match is None:
            return False  # a URL or path requirement: installed to be sure
        installed = _installed(match.group(1))
        if installed is None or not _same_version(installed, match.group(3)):
            return False
    return True


def requirements_satisfied(requirements: Sequence[str]) -> bool:
    """Whether this interpreter already satisfies each requirement that applies to it."""
    return all(provided_pin(text) is not None or not _applies(text) for text in requirements)


def _applies(requirement: str) -> bool:
    """False only for a requirement whose environment marker excludes this interpreter."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover
        return True
    try:
        marker = Requirement(requirement).marker
    except InvalidRequirement:
        return True
    return marker is None or marker.evaluate()


async def pod_environment(
    packages: Sequence[str], lock: str | None, work_dir: Path, settings: EnvironmentSettings
) -> str | None:
    """The interpreter the step should run with: None = this one (the image has
    the packages), else a virtualenv built under ``work_dir``. Raises
    :class:`EnvironmentFailedError` when they cannot be installed."""
    requirements = requirement_set(packages)
    if lock is not None and lock_satisfied(lock):
        return None
    if lock is None and requirements_satisfied(requirements):
        return None
    install = lock_lines(lock) if lock is not None else requirements
    path = work_dir / POD_ENV_DIR
    installer = Installer(settings)
    try:
        async with asyncio.timeout(settings.build_timeout_seconds):
            await build(path, environment_digest(install, settings), install, settings, installer,
                        no_deps=lock is not None)  # fmt: skip
    except InstallError as exc:
        raise EnvironmentFailedError(
            requirements, exc.problem, exc.log,
            fix="check that the lock's versions install on the step image (its Python and "
            "its own distributions, which are pinned) and that the pod reaches the index "
            "(RUNNER_ENVS_* in the step's environment, credentials through the Secret)",
        ) from exc  # fmt: skip
    except TimeoutError as exc:
        raise EnvironmentFailedError(
            requirements,
            f"installing took longer than {settings.build_timeout_seconds:g}s",
            installer.text(),
            fix="raise RUNNER_ENVS_BUILD_TIMEOUT_SECONDS, or mount a package cache "
            "(RUNNER_K8S_PACKAGES_CACHE_PVC)",
        ) from exc
    return str(layout.python_of(path))
