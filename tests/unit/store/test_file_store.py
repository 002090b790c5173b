"""FileStore specifics: atomicity, the root boundary, and a cheap import."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner.errors import PermanentStoreError, StoreError
from runner.store import FileStore, open_store
from runner.store.file import TMP_PREFIX


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def test_uri_is_the_absolute_root(root: Path) -> None:
    store = FileStore(root)
    assert store.uri == root.resolve().as_uri()
    assert store.uri_for("a/b") == root.resolve().as_uri() + "/a/b"


async def test_writes_leave_no_temp_files(root: Path, tmp_path: Path) -> None:
    store = FileStore(root)
    src = tmp_path / "src"
    src.write_bytes(b"data")
    await store.put_bytes("a/b", b"1")
    await store.put_file("a/c", src)
    await store.put_if_absent("a/d", b"2")
    await store.put_if_absent("a/d", b"3")
    assert sorted(p.name for p in (root / "a").iterdir()) == ["b", "c", "d"]


async def test_list_skips_temp_files_of_writers_in_flight(root: Path) -> None:
    store = FileStore(root)
    await store.put_bytes("a/done", b"x")
    (root / "a" / f"{TMP_PREFIX}abc123").write_bytes(b"partial")
    assert [i.key async for i in store.list()] == ["a/done"]


async def test_symlink_out_of_the_root_is_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = FileStore(root)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "filelink").symlink_to(outside / "secret")
    with pytest.raises(PermanentStoreError, match="outside the store root"):
        await store.put_bytes("link/x", b"pwned")
    with pytest.raises(PermanentStoreError, match="outside the store root"):
        await store.put_if_absent("link/y", b"pwned")
    with pytest.raises(PermanentStoreError, match="outside the store root"):
        await store.put_bytes("filelink", b"pwned")
    with pytest.raises(PermanentStoreError, match="outside the store root"):
        await store.get_bytes("link/secret")
    with pytest.raises(PermanentStoreError, match="outside the store root"):
        _ = [i async for i in store.list("link/")]
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"
    # Nothing outside is listed from the root either.
    assert [i.key async for i in store.list()] == []


async def test_key_that_is_a_prefix_of_another_object(root: Path) -> None:
    store = FileStore(root)
    await store.put_bytes("a", b"x")
    with pytest.raises(StoreError, match="clashes"):
        await store.put_bytes("a/b", b"y")


def test_put_if_absent_across_threads_and_loops(root: Path) -> None:
    """Each thread runs its own event loop and its own store: like processes."""
    barrier = threading.Barrier(20)
    results: list[bool] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        store = FileStore(root)
        barrier.wait()
        created = asyncio.run(store.put_if_absent("cache/ab/key.json", f"w{i}".encode()))
        with lock:
            results.append(created)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    assert results.count(True) == 1
    assert (root / "cache" / "ab" / "key.json").read_bytes().startswith(b"w")


def test_importing_the_file_store_does_not_import_boto(tmp_path: Path) -> None:
    code = (
        "import sys, asyncio\n"
        "from runner.store import open_store\n"
        f"s = open_store({(tmp_path / 'r').as_uri()!r})\n"
        "asyncio.run(s.put_bytes('a', b'x'))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'aioboto3', 'aiobotocore', 'aiohttp'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert out.stdout.strip() == "[]"


def test_open_store_file_uri(tmp_path: Path) -> None:
    store = open_store((tmp_path / "with space").as_uri())
    assert isinstance(store, FileStore)
    assert store.root == (tmp_path / "with space").resolve()
    assert isinstance(open_store(str(tmp_path / "plain")), FileStore)
