"""Directory artifacts: a local directory <-> every object under a key prefix.

Object stores have no directories, so a directory artifact is stored as one
object per file at ``<prefix>/<relative path>``. Every relative path is
checked as a key *before* anything is uploaded, so a bad file name fails
the whole upload up front instead of leaving half a directory behind. Empty
directories are not represented.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from runner.errors import PermanentStoreError
from runner.store.base import ArtifactStore, ObjectInfo
from runner.store.keys import join_key, validate_key

__all__ = ["get_dir", "put_dir"]

DEFAULT_CONCURRENCY = 8
"""Files moved at once: enough to hide S3 latency without flooding it."""


async def put_dir(
    store: ArtifactStore,
    key_prefix: str,
    dir_path: Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[ObjectInfo]:
    """Upload every file under ``dir_path`` to ``key_prefix/<relative path>``.

    Returns one :class:`ObjectInfo` (with ``sha256``) per file, sorted by key.
    Symlinked files are uploaded as their content; symlinked directories are
    not descended into (no loops, nothing outside the tree).
    """
    validate_key(key_prefix)
    root = Path(dir_path)
    if not await asyncio.to_thread(root.is_dir):
        raise PermanentStoreError(
            f"cannot upload directory {str(root)!r}: it is not a directory; "
            "use put_file for a single file"
        )
    files = await asyncio.to_thread(_relative_files, root)
    keys = {rel: join_key(key_prefix, rel) for rel in files}  # validates all up front
    limit = asyncio.Semaphore(concurrency)

    async def upload(rel: str) -> ObjectInfo:
        async with limit:
            return await store.put_file(keys[rel], root / rel)

    tasks = await _run_all(upload, files, "put_dir")
    return sorted((t.result() for t in tasks), key=lambda info: info.key)


async def get_dir(
    store: ArtifactStore,
    key_prefix: str,
    dest_dir: Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[ObjectInfo]:
    """Download every object under ``key_prefix/`` into ``dest_dir``.

    ``dest_dir`` is created even when the prefix holds nothing (an empty
    directory artifact); each file is written atomically.
    """
    validate_key(key_prefix)
    dest = Path(dest_dir)
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    start = len(key_prefix) + 1
    # Keys are validated relative paths (no "..", no leading "/"), so joining
    # them under dest cannot escape it.
    keys = [info.key async for info in store.list(key_prefix + "/")]
    limit = asyncio.Semaphore(concurrency)

    async def download(key: str) -> ObjectInfo:
        async with limit:
            return await store.get_file(key, dest / key[start:])

    tasks = await _run_all(download, keys, "get_dir")
    return sorted((t.result() for t in tasks), key=lambda info: info.key)


async def _run_all(
    fn: Callable[[str], Coroutine[Any, Any, ObjectInfo]], items: list[str], what: str
) -> list[asyncio.Task[ObjectInfo]]:
    """Run ``fn`` over ``items`` in one task group; the first failure cancels
    the rest and is re-raised as itself, so callers catch ``StoreError``
    rather than an ``ExceptionGroup``."""
    try:
        async with asyncio.TaskGroup() as tg:
            return [tg.create_task(fn(item), name=f"{what}:{item}") for item in items]
    except BaseExceptionGroup as group:
        first: BaseException = group
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__  # keep the adapter's own chain


def _relative_files(root: Path) -> list[str]:
    found: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_file():  # follows file symlinks; skips sockets, broken links
                found.append(full.relative_to(root).as_posix())
    return sorted(found)
