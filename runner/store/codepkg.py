"""Code packages: the exact source of a pipeline version, shipped through the store.

At submit time the pipeline's source tree (``*.py`` plus declared data files,
``.gitignore``-aware, size-capped) is packed into a tar.gz that is
byte-for-byte deterministic — sorted entries, zeroed times and owners, fixed
modes, gzip mtime 0 — so the same tree always has the same digest and is
stored once at ``code/<sha256>.tar.gz``. A step fetches it once per digest
into a local cache, verifies the digest, extracts it safely (no absolute
paths, ``..``, links or devices) and imports the component from there.

(Determinism holds within one zlib implementation; a different zlib may
compress the same tar differently, which only costs a second upload.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from runner.errors import CodePackageError
from runner.events.models import CodeRef
from runner.store.base import ArtifactStore
from runner.store.keys import code_key, hex_digest

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CodePackage",
    "build_code_package",
    "fetch_code_package",
    "upload_code_package",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

ALWAYS_SKIPPED = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "__pycache__",
        ".runner",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
    }
)
"""Directory names never packed, whatever ``.gitignore`` says (hidden ones neither)."""

_FILE_MODE = 0o644


@dataclass(frozen=True)
class CodePackage:
    """A built package: the tarball bytes, their sha256 (hex) and the packed paths."""

    digest: str
    data: bytes = field(repr=False)
    files: list[str]

    @property
    def size(self) -> int:
        return len(self.data)


def build_code_package(
    source_root: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    extra_files: Sequence[str] = (),
) -> CodePackage:
    """Pack ``source_root``'s ``*.py`` and ``extra_files`` (gitignore-style globs).

    ``.gitignore`` files anywhere in the tree apply to everything, declared
    data files included (un-ignore one with a ``!`` rule). Blocking: call it
    in a thread from async code.
    """
    root = Path(source_root).resolve()
    if not root.is_dir():
        raise CodePackageError(
            f"cannot package {str(root)!r}: not a directory; pass the pipeline's source folder"
        )
    from pathspec import GitIgnoreSpec  # only the submitting side needs it

    extra = GitIgnoreSpec.from_lines(extra_files) if extra_files else None
    files = _select(root, extra)
    _check_size(root, files, max_bytes)
    data = _pack(root, files)
    return CodePackage(digest=hashlib.sha256(data).hexdigest(), data=data, files=files)


def _select(root: Path, extra: GitIgnoreSpec | None) -> list[str]:
    from pathspec import GitIgnoreSpec

    specs: dict[str, GitIgnoreSpec] = {}
    chosen: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath).relative_to(root).as_posix()
        here = "" if here == "." else here
        gitignore = Path(dirpath, ".gitignore")
        if gitignore.is_file():
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
            specs[here] = GitIgnoreSpec.from_lines(lines)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_SKIPPED
            and not d.startswith(".")
            and not d.endswith(".egg-info")
            and not _ignored(specs, _join(here, d), is_dir=True)
        )
        for name in filenames:
            rel = _join(here, name)
            wanted = (name.endswith(".py") and not name.startswith(".")) or (
                extra is not None and extra.match_file(rel)
            )
            if wanted and not _ignored(specs, rel, is_dir=False) and _inside(root, rel):
                chosen.append(rel)
    return sorted(chosen)


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _ignored(specs: dict[str, GitIgnoreSpec], rel: str, *, is_dir: bool) -> bool:
    """Git's rule: the deepest ``.gitignore`` with a matching pattern decides."""
    parts = PurePosixPath(rel).parts
    for depth in range(len(parts) - 1, -1, -1):
        spec = specs.get("/".join(parts[:depth]))
        if spec is None:
            continue
        sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
        result = spec.check_file(sub)
        if result.include is not None:
            return bool(result.include)
    return False


def _inside(root: Path, rel: str) -> bool:
    # A symlinked file is packed as its content, but only if it stays in the tree.
    path = root / rel
    return path.is_file() and (not path.is_symlink() or path.resolve().is_relative_to(root))


def _check_size(root: Path, files: list[str], max_bytes: int) -> None:
    sizes = {rel: (root / rel).stat().st_size for rel in files}
    total = sum(sizes.values())
    if total <= max_bytes:
        return
    biggest = sorted(sizes, key=lambda rel: -sizes[rel])[:5]
    listing = ", ".join(f"{rel} ({sizes[rel] / 1e6:.1f} MB)" for rel in biggest)
    raise CodePackageError(
        f"the code package of {str(root)!r} would hold {total / 1e6:.1f} MB, over the "
        f"{max_bytes / 1e6:.1f} MB cap; biggest files: {listing}. Add them to .gitignore, "
        "pass data as input artifacts instead of source files, or raise the cap"
    )


def _pack(root: Path, files: list[str]) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of names and times.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in files:
            content = (root / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(content)
            info.mtime = 0
            info.mode = _FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


async def upload_code_package(store: ArtifactStore, pkg: CodePackage) -> CodeRef:
    """Store ``pkg`` at ``code/<digest>.tar.gz`` once; the ref carries ``sha256:<hex>``."""
    key = code_key(pkg.digest)
    if not await store.put_if_absent(key, pkg.data):
        head = await store.head(key)
        if head is not None and head.size != pkg.size:
            # A torn or foreign object under our content address: repair it.
            await store.put_bytes(key, pkg.data)
    return CodeRef(uri=store.uri_for(key), digest=f"sha256:{pkg.digest}")


async def fetch_code_package(store: ArtifactStore, code: CodeRef, cache_dir: Path) -> Path:
    """The extracted package directory ``cache_dir/<hex digest>/``, fetched at most once.

    Safe with concurrent fetchers (threads or processes): each extracts into
    its own temp directory and the first rename wins.
    """
    digest = hex_digest(code.digest, "code package digest")
    target = Path(cache_dir) / digest
    if await asyncio.to_thread(target.is_dir):
        return target
    data = await store.get_bytes(store.key_for(code.uri))
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise CodePackageError(
            f"code package {code.uri!r} is corrupt: its sha256 is {actual}, expected "
            f"{digest}; submit the run again to re-upload the code"
        )
    return await asyncio.to_thread(_extract_into_cache, data, target)


def _extract_into_cache(data: bytes, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name[:12]}-"))
    try:
        safe_extract(data, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            # Another fetcher finished first; its copy is identical.
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return target


def safe_extract(data: bytes, dest: Path) -> None:
    """Extract a tar.gz of regular files into ``dest``, refusing anything else."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            path = _member_path(member, dest)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:  # pragma: no cover - isfile() members always have data
                raise CodePackageError(f"code package entry {member.name!r} has no content")
            with source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)
            os.chmod(path, _FILE_MODE)


def _member_path(member: tarfile.TarInfo, dest: Path) -> Path:
    name = member.name
    if not (member.isfile() or member.isdir()):
        raise CodePackageError(
            f"code package entry {name!r} is a link or special file; refusing to extract it "
            "(packages hold regular files only)"
        )
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts or not parts:
        raise CodePackageError(
            f"code package entry {name!r} would be written outside the package directory; "
            "refusing to extract it"
        )
    path = dest.joinpath(*parts)
    if not path.resolve().is_relative_to(dest.resolve()):
        raise CodePackageError(f"code package entry {name!r} escapes the package directory")
    return path
