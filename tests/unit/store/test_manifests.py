"""Cache manifests: hits, every kind of miss, listing and pruning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from runner.events.models import ArtifactRef
from runner.store import MemoryStore
from runner.store.manifests import (
    CacheManifest,
    delete_manifest,
    list_manifests,
    lookup,
    prune,
    read_manifest,
    write_manifest,
)

KEY = "ab" + "0" * 62
OTHER = "cd" + "1" * 62
NOW = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def manifest_with_output(
    store: MemoryStore, key: str = KEY, *, created_at: datetime = NOW, run: str = "r1"
) -> CacheManifest:
    file_info = await store.put_bytes(f"runs/{run}/train/model", b"weights")
    await store.put_bytes(f"runs/{run}/train/data/a.csv", b"1,2\n")
    await store.put_bytes(f"runs/{run}/train/data/b/c.csv", b"3\n")
    return CacheManifest(
        cache_key=key,
        outputs={
            "model": ArtifactRef(
                uri=store.uri_for(f"runs/{run}/train/model"),
                digest=f"sha256:{file_info.sha256}",
                size=file_info.size,
                kind="Model",
            ),
            "data": ArtifactRef(
                uri=store.uri_for(f"runs/{run}/train/data"),
                digest="sha256:" + "f" * 64,
                size=6,
                layout="dir",
            ),
        },
        parameters={"Output": 0.93},
        producer_run=run,
        producer_step="train",
        component="train",
        created_at=created_at,
    )


async def test_write_then_lookup_is_a_hit(store: MemoryStore) -> None:
    manifest = await manifest_with_output(store)
    assert await write_manifest(store, manifest) is True
    assert store.keys[0] == f"cache/ab/{KEY}.json"
    assert await lookup(store, KEY) == manifest
    assert await read_manifest(store, KEY) == manifest


async def test_first_writer_wins(store: MemoryStore) -> None:
    first = await manifest_with_output(store)
    second = first.model_copy(update={"producer_run": "r2"})
    assert await write_manifest(store, first) is True
    assert await write_manifest(store, second) is False
    found = await lookup(store, KEY)
    assert found is not None
    assert found.producer_run == "r1"


async def test_missing_manifest_is_a_miss(store: MemoryStore) -> None:
    assert await read_manifest(store, KEY) is None
    assert await lookup(store, KEY) is None


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"\xff\xfe", b"[]", b'{"cache_key": "x"}', b"null"],
    ids=["corrupt", "empty", "binary", "list", "invalid", "null"],
)
async def test_unreadable_manifest_is_a_logged_miss(
    store: MemoryStore, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    await store.put_bytes(f"cache/ab/{KEY}.json", raw)
    with caplog.at_level(logging.WARNING, logger="runner.store.manifests"):
        assert await lookup(store, KEY) is None
    assert KEY in caplog.text
    assert "miss" in caplog.text


async def test_truncated_manifest_is_a_miss(store: MemoryStore) -> None:
    await write_manifest(store, await manifest_with_output(store))
    raw = await store.get_bytes(f"cache/ab/{KEY}.json")
    await store.put_bytes(f"cache/ab/{KEY}.json", raw[: len(raw) // 2])
    assert await lookup(store, KEY) is None


async def test_manifest_under_the_wrong_key_is_a_miss(store: MemoryStore) -> None:
    manifest = await manifest_with_output(store, OTHER)
    await store.put_json(f"cache/ab/{KEY}.json", manifest.model_dump(mode="json"))
    assert await lookup(store, KEY) is None


@pytest.mark.parametrize(
    "damage",
    ["delete file", "resize file", "delete dir file", "foreign uri"],
)
async def test_missing_or_changed_output_is_a_miss(store: MemoryStore, damage: str) -> None:
    manifest = await manifest_with_output(store)
    if damage == "foreign uri":
        ref = manifest.outputs["model"].model_copy(update={"uri": "s3://elsewhere/model"})
        manifest = manifest.model_copy(update={"outputs": {**manifest.outputs, "model": ref}})
    await write_manifest(store, manifest)
    if damage == "delete file":
        await store.delete("runs/r1/train/model")
    elif damage == "resize file":
        await store.put_bytes("runs/r1/train/model", b"other weights")
    elif damage == "delete dir file":
        await store.delete("runs/r1/train/data/b/c.csv")
    assert await read_manifest(store, KEY) is not None
    assert await lookup(store, KEY) is None


async def test_list_and_delete(store: MemoryStore) -> None:
    one = await manifest_with_output(store, KEY)
    two = await manifest_with_output(store, OTHER, run="r2")
    await write_manifest(store, one)
    await write_manifest(store, two)
    await store.put_bytes(f"cache/ee/{'e' * 64}.json", b"garbage")
    assert [m.cache_key async for m in list_manifests(store)] == [KEY, OTHER]
    await delete_manifest(store, KEY)
    assert [m.cache_key async for m in list_manifests(store)] == [OTHER]
    await delete_manifest(store, KEY)  # already gone: fine


async def test_prune(store: MemoryStore) -> None:
    fresh = await manifest_with_output(store, KEY, created_at=NOW - timedelta(days=1))
    old = await manifest_with_output(store, OTHER, created_at=NOW - timedelta(days=30), run="r2")
    gone_key = "9" * 64
    gone = await manifest_with_output(store, gone_key, run="r3")
    for manifest in (fresh, old, gone):
        await write_manifest(store, manifest)
    await store.delete("runs/r3/train/model")
    corrupt_key = "e" * 64
    await store.put_bytes(f"cache/ee/{corrupt_key}.json", b"{")

    expected = sorted([OTHER, gone_key, corrupt_key], key=lambda k: f"cache/{k[:2]}/{k}")
    planned = await prune(store, older_than=timedelta(days=7), dry_run=True, now=NOW)
    assert planned == expected
    assert len([k for k in store.keys if k.startswith("cache/")]) == 4  # dry run: untouched

    assert await prune(store, older_than=timedelta(days=7), now=NOW) == expected
    assert [m.cache_key async for m in list_manifests(store)] == [KEY]
    # Without an age limit only broken manifests go.
    assert await prune(store, now=NOW) == []
