"""The behaviour every ArtifactStore must have, as a reusable test class.

Subclasses provide a ``store`` fixture; the unit suite runs this against
FileStore and MemoryStore, the integration suite against S3Store on a real
S3-protocol server — so the fake cannot drift from the real adapters.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from runner.errors import InvalidNameError, ObjectNotFoundError, StoreError
from runner.store import ArtifactStore, get_dir, put_dir

BAD_KEYS = [
    "../x",
    "a/../b",
    "/abs",
    "a//b",
    "a/./b",
    ".",
    "a/",
    "",
    "a b",
    "a\tb",
    "a\nb",
    "a\x00b",
    "a\x7fb",
    "a\\b",
    "a/*",
    "a/>",
    "caf\u00e9",
]


class StoreContract:
    """Tests that take a fresh, empty ``store``."""

    async def test_is_an_artifact_store(self, store: ArtifactStore) -> None:
        assert isinstance(store, ArtifactStore)

    async def test_bytes_round_trip(self, store: ArtifactStore) -> None:
        data = b"hello \x00 world"
        info = await store.put_bytes("runs/r1/train[3]/model", data, content_type="text/plain")
        assert info.key == "runs/r1/train[3]/model"
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert await store.get_bytes("runs/r1/train[3]/model") == data

    async def test_empty_object(self, store: ArtifactStore) -> None:
        await store.put_bytes("empty", b"")
        assert await store.get_bytes("empty") == b""
        head = await store.head("empty")
        assert head is not None
        assert head.size == 0

    async def test_put_overwrites(self, store: ArtifactStore) -> None:
        await store.put_bytes("k", b"one")
        await store.put_bytes("k", b"two!")
        assert await store.get_bytes("k") == b"two!"
        head = await store.head("k")
        assert head is not None
        assert head.size == 4

    async def test_missing_object(self, store: ArtifactStore, tmp_path: Path) -> None:
        with pytest.raises(ObjectNotFoundError, match="nope"):
            await store.get_bytes("a/nope")
        with pytest.raises(ObjectNotFoundError):
            await store.get_json("a/nope")
        dl = tmp_path / "downloads"
        dl.mkdir()
        with pytest.raises(ObjectNotFoundError):
            await store.get_file("a/nope", dl / "out")
        with pytest.raises(ObjectNotFoundError):
            async for _ in store.iter_bytes("a/nope"):
                pass
        assert list(dl.iterdir()) == []  # no partial or temp file left behind
        assert await store.head("a/nope") is None
        assert not await store.exists("a/nope")

    async def test_head_and_exists(self, store: ArtifactStore) -> None:
        await store.put_bytes("a/b", b"12345")
        head = await store.head("a/b")
        assert head is not None
        assert (head.key, head.size) == ("a/b", 5)
        assert head.modified is not None
        assert await store.exists("a/b")
        # A "directory" is not an object.
        assert await store.head("a") is None
        assert not await store.exists("a")

    async def test_file_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        data = bytes(range(256)) * 5000
        src.write_bytes(data)
        put = await store.put_file("runs/r/s/data", src)
        assert put.size == len(data)
        assert put.sha256 == hashlib.sha256(data).hexdigest()
        dest = tmp_path / "deep" / "er" / "out.bin"
        got = await store.get_file("runs/r/s/data", dest)
        assert dest.read_bytes() == data
        assert got.sha256 == put.sha256
        assert got.size == len(data)
        assert sorted(p.name for p in dest.parent.iterdir()) == ["out.bin"]

    async def test_put_file_of_missing_source(self, store: ArtifactStore, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match=r"missing\.bin"):
            await store.put_file("k", tmp_path / "missing.bin")

    async def test_iter_bytes_in_chunks(self, store: ArtifactStore) -> None:
        data = b"x" * 10 + b"y" * 10 + b"z" * 5
        await store.put_bytes("chunks", data)
        chunks = [c async for c in store.iter_bytes("chunks", chunk_size=10)]
        assert b"".join(chunks) == data
        assert all(0 < len(c) <= 10 for c in chunks)

    async def test_put_if_absent(self, store: ArtifactStore) -> None:
        assert await store.put_if_absent("cache/ab/k.json", b"first") is True
        assert await store.put_if_absent("cache/ab/k.json", b"second") is False
        assert await store.get_bytes("cache/ab/k.json") == b"first"

    async def test_put_if_absent_race_has_one_winner(self, store: ArtifactStore) -> None:
        payloads = [f"writer-{i}".encode() for i in range(20)]
        results = await asyncio.gather(*(store.put_if_absent("race", p) for p in payloads))
        assert sum(results) == 1
        winner = payloads[results.index(True)]
        assert await store.get_bytes("race") == winner

    async def test_json(self, store: ArtifactStore) -> None:
        value = {"b": [1, 2.5, None, True], "a": {"x": "é"}}
        info = await store.put_json("meta.json", value)
        assert info.size > 0
        assert await store.get_json("meta.json") == value

    async def test_corrupt_json(self, store: ArtifactStore) -> None:
        await store.put_bytes("bad.json", b'{"truncated": ')
        with pytest.raises(StoreError, match="corrupt"):
            await store.get_json("bad.json")
        await store.put_bytes("binary.json", b"\xff\xfe\x00")
        with pytest.raises(StoreError, match="corrupt"):
            await store.get_json("binary.json")

    async def test_list(self, store: ArtifactStore) -> None:
        keys = ["runs/r1/a/x", "runs/r1/b/y", "runs/r10/a/x", "runs/r2/a", "code/c.tar.gz", "a.txt"]
        for key in keys:
            await store.put_bytes(key, key.encode())
        listed = [info async for info in store.list()]
        assert [i.key for i in listed] == sorted(keys)
        assert {i.key: i.size for i in listed} == {k: len(k) for k in keys}
        assert [i.key async for i in store.list("runs/r1/")] == ["runs/r1/a/x", "runs/r1/b/y"]
        # A partial segment is a string prefix, as in S3.
        assert [i.key async for i in store.list("runs/r1")] == [
            "runs/r1/a/x",
            "runs/r1/b/y",
            "runs/r10/a/x",
        ]
        assert [i.key async for i in store.list("nothing/")] == []

    async def test_delete(self, store: ArtifactStore) -> None:
        await store.put_bytes("d/k", b"x")
        await store.delete("d/k")
        assert not await store.exists("d/k")
        await store.delete("d/k")  # missing is fine
        await store.delete("never/was")
        assert [i async for i in store.list()] == []

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_bad_keys_are_rejected(self, store: ArtifactStore, key: str) -> None:
        with pytest.raises(InvalidNameError):
            await store.put_bytes(key, b"x")
        with pytest.raises(InvalidNameError):
            await store.get_bytes(key)
        with pytest.raises(InvalidNameError):
            await store.put_if_absent(key, b"x")
        with pytest.raises(InvalidNameError):
            await store.head(key)
        with pytest.raises(InvalidNameError):
            store.uri_for(key)

    async def test_uri_mapping(self, store: ArtifactStore) -> None:
        uri = store.uri_for("runs/r1/s/out")
        assert uri.startswith(store.uri + "/")
        assert store.key_for(uri) == "runs/r1/s/out"
        with pytest.raises(StoreError, match="not inside the store"):
            store.key_for("s3://elsewhere/runs/r1/s/out")
        with pytest.raises(InvalidNameError):
            store.key_for(store.uri + "/a/../../etc/passwd")

    async def test_directory_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "model"
        (src / "sub" / "deeper").mkdir(parents=True)
        (src / "weights.bin").write_bytes(b"w" * 1000)
        (src / "sub" / "config.json").write_text("{}")
        (src / "sub" / "deeper" / "vocab.txt").write_text("a\nb\n")
        infos = await put_dir(store, "runs/r1/train/model", src)
        assert [i.key for i in infos] == [
            "runs/r1/train/model/sub/config.json",
            "runs/r1/train/model/sub/deeper/vocab.txt",
            "runs/r1/train/model/weights.bin",
        ]
        assert all(i.sha256 for i in infos)
        dest = tmp_path / "fetched"
        got = await get_dir(store, "runs/r1/train/model", dest)
        assert [i.key for i in got] == [i.key for i in infos]
        assert (dest / "weights.bin").read_bytes() == b"w" * 1000
        assert (dest / "sub" / "config.json").read_text() == "{}"
        assert (dest / "sub" / "deeper" / "vocab.txt").read_text() == "a\nb\n"

    async def test_put_dir_rejects_bad_names_before_uploading(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        src = tmp_path / "out"
        src.mkdir()
        (src / "a.txt").write_text("a")
        (src / "has space.txt").write_text("b")
        with pytest.raises(InvalidNameError, match="has space"):
            await put_dir(store, "runs/r1/s/out", src)
        assert [i async for i in store.list()] == []

    async def test_get_dir_of_empty_prefix(self, store: ArtifactStore, tmp_path: Path) -> None:
        assert await get_dir(store, "runs/r1/s/none", tmp_path / "d") == []
        assert (tmp_path / "d").is_dir()
