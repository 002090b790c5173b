"""The local-directory store: the embedded default (``file:///abs/root``).

Every write goes to a temp file in the target's own directory, is fsynced and
then ``os.replace``d into place, so a reader sees the old object or the whole
new one, never a torn write. ``put_if_absent`` hard-links the finished temp
file to the target: ``link`` fails if the name exists, which makes "exactly
one creator wins" hold across threads and processes.

Blocking file calls run in worker threads (``asyncio.to_thread``). This
module must stay cheap to import — the step process imports it at start-up —
so it never imports boto or aiohttp.

Every key is resolved and checked to stay under the root, so a symlink
inside the root that points elsewhere is refused rather than followed. (A
directory swapped for a symlink *between* the check and the write is out of
scope: the root belongs to runner, not to untrusted writers.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from runner.errors import ObjectNotFoundError, PermanentStoreError, StoreError
from runner.store.base import DEFAULT_CHUNK_SIZE, BaseStore, ObjectInfo, not_found
from runner.store.keys import validate_key, validate_prefix

__all__ = ["TMP_PREFIX", "FileStore"]

TMP_PREFIX = ".runner-tmp-"
"""Temp files being written; never listed."""

_T = TypeVar("_T")


class FileStore(BaseStore):
    """Objects are files under ``root``; keys are their relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.uri = self.root.as_uri()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    # -- paths -------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file of ``key``, refusing anything that resolves outside the root."""
        resolved = (self.root / validate_key(key)).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise PermanentStoreError(
                f"object key {key!r} resolves to {str(resolved)!r}, outside the store root "
                f"{str(self.root)!r} (through a symlink): remove the link or use another key"
            )
        return resolved

    async def _run(self, key: str, fn: Callable[[], _T], *, reading: bool = False) -> _T:
        """Run blocking ``fn`` in a thread and translate ``OSError`` into store errors.

        When ``reading``, a path that is missing or is a directory is simply
        "no such object" — as it would be in a bucket.
        """
        try:
            return await asyncio.to_thread(fn)
        except FileNotFoundError as exc:
            raise not_found(self.uri, key) from exc
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            if reading and not isinstance(exc, FileExistsError):
                raise not_found(self.uri, key) from exc
            raise PermanentStoreError(
                f"object key {key!r} clashes with an existing object or directory in "
                f"{str(self.root)!r} (a key cannot be both an object and a prefix of "
                "another); choose another key"
            ) from exc
        except PermissionError as exc:
            raise PermanentStoreError(
                f"no permission to access {exc.filename!r} for object {key!r}: "
                f"{exc.strerror}; fix the owner or mode of that path"
            ) from exc
        except OSError as exc:
            raise StoreError(
                f"file store {str(self.root)!r} failed on {key!r} at {exc.filename!r}: "
                f"{exc.strerror or exc}"
            ) from exc

    # -- writes ------------------------------------------------------------

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        # content_type has no place on a plain file; it is accepted for parity.
        path = self._path(key)

        def write(f: BinaryIO) -> str:
            f.write(data)
            return hashlib.sha256(data).hexdigest()

        return await self._run(key, lambda: _replace_with(path, key, write))

    async def put_file(self, key: str, path: Path) -> ObjectInfo:
        target = self._path(key)
        source = Path(path)
        if not await asyncio.to_thread(source.is_file):
            raise PermanentStoreError(
                f"cannot upload {str(source)!r} to {key!r}: it is not a file; "
                "check the path (use put_dir for a directory)"
            )

        def write(f: BinaryIO) -> str:
            with open(source, "rb") as src:
                return _copy_hashing(src, f)

        return await self._run(key, lambda: _replace_with(target, key, write))

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        return await self._run(key, lambda: _link_if_absent(path, data))

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def unlink() -> None:
            # A missing object, or a "directory" key that is no object, is fine.
            # Empty parent directories stay: removing them would race with a
            # concurrent writer that has just created them.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()

        await self._run(key, unlink, reading=True)

    # -- reads -------------------------------------------------------------

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        return await self._run(key, path.read_bytes, reading=True)

    async def get_file(self, key: str, dest: Path) -> ObjectInfo:
        src = self._path(key)

        def read_to(f: BinaryIO) -> str:
            with open(src, "rb") as s:
                return _copy_hashing(s, f)

        return await self._run(key, lambda: _replace_with(Path(dest), key, read_to), reading=True)

    async def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        f = await self._run(key, lambda: open(path, "rb"), reading=True)  # noqa: SIM115
        try:
            while chunk := await asyncio.to_thread(f.read, chunk_size):
                yield chunk
        finally:
            f.close()

    async def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            return await self._run(key, lambda: _stat_info(path, key), reading=True)
        except ObjectNotFoundError:
            return None

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        # The walk starts at the deepest complete directory of the prefix; a
        # partial last segment ("runs/r1/tr") is matched by string prefix.
        dir_part = prefix.rpartition("/")[0]
        base = self._path(dir_part) if dir_part else self.root
        infos = await self._run(prefix or ".", lambda: _walk(self.root, base, prefix))
        for info in infos:
            yield info

    async def close(self) -> None:
        """Nothing to release; present for the protocol."""


def _copy_hashing(src: BinaryIO, dst: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := src.read(DEFAULT_CHUNK_SIZE):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


def _temp_in(directory: Path) -> tuple[int, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some platforms cannot open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(directory: Path, write: Callable[[BinaryIO], str]) -> tuple[str, str]:
    """Write a complete, fsynced temp file in ``directory``: (temp path, sha256)."""
    fd, tmp = _temp_in(directory)
    try:
        with os.fdopen(fd, "wb") as f:
            sha = write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp, sha


def _replace_with(path: Path, key: str, write: Callable[[BinaryIO], str]) -> ObjectInfo:
    tmp, sha = _write_temp(path.parent, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    info = _stat_info(path, key)
    return ObjectInfo(key=key, size=info.size, sha256=sha, modified=info.modified)


def _link_if_absent(path: Path, data: bytes) -> bool:
    tmp, _ = _write_temp(path.parent, lambda f: str(f.write(data)))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # No hard links on this filesystem: O_EXCL still elects one winner, but
        # a concurrent reader may briefly see a partial file.
        return _create_exclusive(path, data)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


def _create_exclusive(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def _stat_info(path: Path, key: str) -> ObjectInfo:
    st = path.stat()
    if not path.is_file():
        raise IsADirectoryError(errno.EISDIR, "not an object", str(path))
    modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
    return ObjectInfo(key=key, size=st.st_size, modified=modified)


def _walk(root: Path, base: Path, prefix: str) -> list[ObjectInfo]:
    infos: list[ObjectInfo] = []
    if not base.is_dir():
        return infos
    # os.walk does not descend into symlinked directories (followlinks=False),
    # and symlinked files are skipped below: nothing outside the root is listed.
    for dirpath, _dirnames, filenames in os.walk(base):
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                continue
            full = Path(dirpath, name)
            key = full.relative_to(root).as_posix()
            if not key.startswith(prefix) or full.is_symlink():
                continue
            try:
                validate_key(key)
                infos.append(_stat_info(full, key))
            except (ValueError, OSError):
                continue  # not addressable as a key, or deleted meanwhile
    infos.sort(key=lambda i: i.key)
    return infos
