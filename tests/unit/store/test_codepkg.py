"""Code packages: deterministic builds, .gitignore, the size cap, safe fetch."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from runner.errors import CodePackageError
from runner.events.models import CodeRef
from runner.store import FileStore, MemoryStore
from runner.store.codepkg import (
    build_code_package,
    fetch_code_package,
    safe_extract,
    upload_code_package,
)

REPO = Path(__file__).parents[3]


def make_tree(root: Path) -> Path:
    files = {
        "pipeline.py": "from steps import prep\n",
        "steps/__init__.py": "",
        "steps/prep.py": "def prep(): return 1\n",
        "steps/data/iris.csv": "a,b\n1,2\n",
        "steps/data/scratch.csv": "x\n",
        "notes.txt": "not code\n",
        "build/gen.py": "ignored by .gitignore\n",
        "logs/run.py": "ignored by a dir pattern\n",
        "keep/secret.py": "ignored\n",
        "keep/public.py": "re-included by '!'\n",
        "sub/.gitignore": "local_only.py\n",
        "sub/local_only.py": "ignored by a nested .gitignore\n",
        "sub/ok.py": "packed\n",
        ".gitignore": "# comment\nbuild\nlogs/\nkeep/*.py\n!keep/public.py\n*.tmp\nscratch.csv\n",
        ".venv/lib/site.py": "never\n",
        "venv/x.py": "never\n",
        "__pycache__/m.py": "never\n",
        ".runner/store/x.py": "never\n",
        "node_modules/x.py": "never\n",
        ".mypy_cache/x.py": "never\n",
        ".pytest_cache/x.py": "never\n",
        "pkg.egg-info/x.py": "never\n",
        ".hidden/x.py": "never\n",
        ".git/hooks/x.py": "never\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


EXPECTED = [
    "keep/public.py",
    "pipeline.py",
    "steps/__init__.py",
    "steps/data/iris.csv",
    "steps/prep.py",
    "sub/ok.py",
]


def test_selects_python_and_declared_files_respecting_gitignore(tmp_path: Path) -> None:
    pkg = build_code_package(make_tree(tmp_path / "src"), extra_files=["steps/data/*.csv"])
    assert pkg.files == EXPECTED
    with tarfile.open(fileobj=io.BytesIO(pkg.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == EXPECTED
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {(0, 0, 0, 0o644, "")}
    assert pkg.digest == hashlib.sha256(pkg.data).hexdigest()


def test_same_tree_same_bytes_even_in_another_process(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a")
    second = make_tree(tmp_path / "b")  # same content, different mtimes and inodes
    os.utime(second / "pipeline.py", (1_000_000, 1_000_000))
    pkg = build_code_package(first, extra_files=["steps/data/*.csv"])
    assert build_code_package(second, extra_files=["steps/data/*.csv"]).data == pkg.data
    code = (
        "from pathlib import Path; from runner.store.codepkg import build_code_package; "
        f"print(build_code_package(Path({str(second)!r}), "
        "extra_files=['steps/data/*.csv']).digest)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == pkg.digest


def test_a_change_changes_the_digest(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src")
    before = build_code_package(root).digest
    (root / "steps" / "prep.py").write_text("def prep(): return 2\n")
    assert build_code_package(root).digest != before


def test_size_cap_names_the_biggest_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src")
    (root / "huge_table.py").write_text("X = '" + "x" * 5000 + "'\n")
    with pytest.raises(CodePackageError, match=r"huge_table\.py") as info:
        build_code_package(root, max_bytes=2000)
    assert "cap" in str(info.value)
    assert ".gitignore" in str(info.value)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CodePackageError, match="not a directory"):
        build_code_package(tmp_path / "missing")


async def test_upload_then_fetch(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    pkg = build_code_package(make_tree(tmp_path / "src"), extra_files=["steps/data/*.csv"])
    ref = await upload_code_package(store, pkg)
    assert ref.digest == f"sha256:{pkg.digest}"
    assert store.key_for(ref.uri) == f"code/{pkg.digest}.tar.gz"
    assert await upload_code_package(store, pkg) == ref  # idempotent
    cache = tmp_path / "cache"
    root = await fetch_code_package(store, ref, cache)
    assert root == cache / pkg.digest
    assert (root / "steps" / "prep.py").read_text() == "def prep(): return 1\n"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == (
        EXPECTED
    )
    # A second fetch uses the cache: it works even with the object gone.
    await store.delete(store.key_for(ref.uri))
    assert await fetch_code_package(store, ref, cache) == root


async def test_concurrent_fetchers_share_one_copy(tmp_path: Path) -> None:
    store = MemoryStore()
    pkg = build_code_package(make_tree(tmp_path / "src"))
    ref = await upload_code_package(store, pkg)
    cache = tmp_path / "c"
    roots = await asyncio.gather(*(fetch_code_package(store, ref, cache) for _ in range(8)))
    assert set(roots) == {tmp_path / "c" / pkg.digest}
    # Only the package dir is left: every loser cleaned its temp dir up.
    assert [p.name for p in (tmp_path / "c").iterdir()] == [pkg.digest]


async def test_corrupt_package_is_refused(tmp_path: Path) -> None:
    store = MemoryStore()
    pkg = build_code_package(make_tree(tmp_path / "src"))
    ref = await upload_code_package(store, pkg)
    await store.put_bytes(store.key_for(ref.uri), pkg.data[:-10])
    with pytest.raises(CodePackageError, match="corrupt"):
        await fetch_code_package(store, ref, tmp_path / "cache")
    assert not (tmp_path / "cache" / pkg.digest).exists()


async def test_upload_repairs_a_torn_object(tmp_path: Path) -> None:
    store = MemoryStore()
    pkg = build_code_package(make_tree(tmp_path / "src"))
    await store.put_bytes(f"code/{pkg.digest}.tar.gz", pkg.data[:10])
    await upload_code_package(store, pkg)
    assert await store.get_bytes(f"code/{pkg.digest}.tar.gz") == pkg.data


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (_entry("/etc/evil.py"), "outside"),
        (_entry("../evil.py"), "outside"),
        (_entry("a/../../evil.py"), "outside"),
        (_entry("link.py", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (_entry("hard.py", tarfile.LNKTYPE, "pipeline.py"), "link"),
        (_entry("dev", tarfile.CHRTYPE), "special"),
        (_entry("fifo", tarfile.FIFOTYPE), "special"),
    ],
)
def test_safe_extract_rejects_malicious_entries(
    tmp_path: Path, entry: tarfile.TarInfo, match: str
) -> None:
    data = _tar((_entry("pipeline.py"), b"ok"), (entry, b"evil" if entry.isfile() else b""))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(CodePackageError, match=match):
        safe_extract(data, dest)
    assert not (tmp_path / "evil.py").exists()
    assert not Path("/etc/evil.py").exists()


async def test_fetch_refuses_a_malicious_package_with_a_matching_digest(tmp_path: Path) -> None:
    store = MemoryStore()
    data = _tar((_entry("../escape.py"), b"evil"))
    digest = hashlib.sha256(data).hexdigest()
    await store.put_bytes(f"code/{digest}.tar.gz", data)
    ref = CodeRef(uri=store.uri_for(f"code/{digest}.tar.gz"), digest=f"sha256:{digest}")
    with pytest.raises(CodePackageError, match="outside"):
        await fetch_code_package(store, ref, tmp_path / "cache")
    assert not (tmp_path / "cache" / "escape.py").exists()
    assert list((tmp_path / "cache").iterdir()) == []
