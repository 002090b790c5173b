"""Where environments live and what says one is complete.

``<home>/envs/<digest>/`` is the virtualenv; ``<home>/envs/<digest>.lock`` is
its cross-process build lock; ``runner-env.json`` inside it (the marker) is
written last, atomically. A directory without a readable marker is
half-built: it is removed and rebuilt, never used. ``last-used`` (touched at
each use) dates it for ``runner environments prune``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

MARKER = "runner-env.json"
LAST_USED = "last-used"
_DIGEST_LENGTH = 64


class EnvironmentRecord(BaseModel):
    """The marker of a complete environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    digest: str
    requirements: list[str]
    python: dict[str, str]
    installer: str
    freeze: str
    """``uv pip freeze`` of the environment: the exact versions it resolved."""
    freeze_digest: str
    created_at: datetime
    build_seconds: float


def envs_root(home: Path) -> Path:
    return home / "envs"


def env_dir(home: Path, digest: str) -> Path:
    return envs_root(home) / digest


def python_of(path: Path) -> Path:
    return path / "bin" / "python"


def site_packages_of(path: Path) -> Path:
    """The environment's own site-packages (``lib/pythonX.Y/site-packages``)."""
    found = sorted((path / "lib").glob("python*/site-packages"))
    if not found:
        raise FileNotFoundError(f"{path} has no lib/python*/site-packages")
    return found[0]


def read_record(path: Path) -> EnvironmentRecord | None:
    """The marker of the environment at ``path``; None if it is half-built."""
    try:
        return EnvironmentRecord.model_validate_json((path / MARKER).read_bytes())
    except (OSError, ValidationError):
        return None


def write_record(path: Path, record: EnvironmentRecord) -> None:
    """Write the marker atomically (a reader sees all of it or none)."""
    tmp = path / f".{MARKER}.tmp"
    tmp.write_text(record.model_dump_json(indent=1))
    os.replace(tmp, path / MARKER)


def touch_used(path: Path) -> None:
    (path / LAST_USED).touch()


def last_used(path: Path) -> datetime:
    for candidate in (path / LAST_USED, path / MARKER, path):
        try:
            return datetime.fromtimestamp(candidate.stat().st_mtime, UTC)
        except OSError:
            continue
    return datetime.fromtimestamp(0, UTC)


def size_of(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def lock_path(path: Path) -> Path:
    """The build lock of the environment at ``path``: ``<digest>.lock`` beside it."""
    return path.with_name(path.name + ".lock")


def remove_dir(path: Path) -> None:
    """Remove an environment directory, marker first (so it is never seen as complete)."""
    (path / MARKER).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class EnvironmentEntry:
    """One directory under ``<home>/envs``, complete (``record``) or half-built."""

    path: Path
    record: EnvironmentRecord | None
    last_used: datetime
    size: int

    @property
    def digest(self) -> str:
        return self.path.name

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "digest": self.digest,
            "path": str(self.path),
            "complete": record is not None,
            "requirements": record.requirements if record else None,
            "python": record.python.get("version") if record else None,
            "freeze": record.freeze.splitlines() if record else None,
            "created_at": record.created_at.isoformat() if record else None,
            "build_seconds": record.build_seconds if record else None,
            "last_used": self.last_used.isoformat(),
            "size": self.size,
        }


def list_environments(home: Path, *, sizes: bool = True) -> list[EnvironmentEntry]:
    """Every environment directory under ``<home>/envs``, oldest use first."""
    root = envs_root(home)
    if not root.is_dir():
        return []
    entries = []
    for path in root.iterdir():
        if not path.is_dir() or len(path.name) != _DIGEST_LENGTH:
            continue
        entries.append(
            EnvironmentEntry(
                path=path,
                record=read_record(path),
                last_used=last_used(path),
                size=size_of(path) if sizes else 0,
            )
        )
    return sorted(entries, key=lambda e: e.last_used)


def age_seconds(entry: EnvironmentEntry, now: float | None = None) -> float:
    return (now if now is not None else time.time()) - entry.last_used.timestamp()


def metadata_json(entries: list[EnvironmentEntry]) -> str:
    return json.dumps([e.to_json() for e in entries], indent=1)
