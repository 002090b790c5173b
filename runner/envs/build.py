"""Building one environment, atomically, under a cross-process lock.

Layered: ``uv venv --python <runner's interpreter>``, then a ``.pth`` file in
the environment's site-packages that adds runner's own site directories
*after* the environment's (so runner and its dependencies are importable,
and the component's packages come first), then ``uv pip install -c
constraints.txt`` where the constraints pin every distribution of runner's
own environment: uv can never install a version that conflicts with
runner's dependencies (it reports the conflict instead). The marker is
written last.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import site
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner.config import EnvironmentSettings
from runner.envs import layout
from runner.envs.installer import Installer
from runner.envs.requirements import (
    constraints_text,
    freeze_digest,
    interpreter,
    own_distributions,
    provided_pin,
)

LAYER_PTH = "_runner_layer.pth"
LOCK_POLL_SECONDS = 0.1


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path``, waited for without blocking the loop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_locked(path: Path) -> bool:
    """Whether another process (or task) holds the build lock at ``path`` now."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def runner_site_dirs() -> list[str]:
    """runner's own site directories, in its interpreter's order."""
    dirs = [*site.getsitepackages()]
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user):
        dirs.append(user)
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def _provided(requirements: Sequence[str]) -> dict[str, str]:
    """The requirements runner's own environment already satisfies -> their pins."""
    found = {}
    for requirement in requirements:
        pin = provided_pin(requirement)
        if pin is not None:
            found[requirement] = pin
    return found


def layer_pth(site_dirs: Sequence[str]) -> str:
    """A ``.pth`` that appends ``site_dirs`` after the environment's own entries;
    ``addsitedir`` also runs their ``.pth`` files (editable installs)."""
    return f"import site; list(map(site.addsitedir, {list(site_dirs)!r}))\n"


async def build(
    path: Path, digest: str, requirements: Sequence[str], settings: EnvironmentSettings,
    installer: Installer, *, no_deps: bool = False,
) -> layout.EnvironmentRecord:  # fmt: skip
    """Build the environment at ``path`` (removing a half-built one first) and
    write its marker. The caller holds the build lock. ``no_deps``: the
    requirements are a complete lock."""
    started = time.monotonic()
    if path.exists():
        installer.log.append(f"removing the half-built environment {path}")
        await asyncio.to_thread(layout.remove_dir, path)
    await installer.create_venv(path)
    python = layout.python_of(path)
    site_packages = layout.site_packages_of(path)
    (site_packages / LAYER_PTH).write_text(layer_pth(runner_site_dirs()))
    constraints = path / "constraints.txt"
    constraints.write_text(constraints_text(own_distributions()))
    provided = {} if no_deps else _provided(requirements)
    if provided:
        installer.log.append(
            "already in runner's environment (importable through the layer, not installed "
            "again): " + " ".join(provided.values())
        )
    missing = [r for r in requirements if r not in provided]
    if missing:
        await installer.install(python, missing, constraints, no_deps=no_deps)
    freeze = await installer.freeze(python, site_packages)
    freeze += "".join(f"{pin}\n" for pin in provided.values())
    record = layout.EnvironmentRecord(
        digest=digest,
        requirements=list(requirements),
        python=interpreter(),
        installer=installer.name,
        freeze=freeze,
        freeze_digest=freeze_digest(freeze),
        created_at=datetime.now(UTC),
        build_seconds=round(time.monotonic() - started, 3),
    )
    layout.write_record(path, record)
    layout.touch_used(path)
    return record
