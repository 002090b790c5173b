"""Streaming a ~300 MB object through S3Store in bounded memory.

The transfer runs in a child process so its peak RSS (``ru_maxrss``) measures
only the client: moto, which keeps objects in memory, lives in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.config import StoreSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 300 * 1024 * 1024
MAX_GROWTH = 100 * 1024 * 1024

CHILD = r"""
import asyncio, json, resource, sys
from pathlib import Path
from runner.config import StoreSettings
from runner.store import open_store

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

async def main(uri: str, endpoint: str, src: str, dest: str) -> None:
    store = open_store(uri, StoreSettings(endpoint_url=endpoint))
    try:
        await store.put_bytes("warm-up", b"x")  # client and connection pool exist
        await store.get_bytes("warm-up")
        base = peak()
        put = await store.put_file("big.bin", Path(src))
        after_put = peak()
        got = await store.get_file("big.bin", Path(dest))
        after_get = peak()
    finally:
        await store.close()
    print(json.dumps({
        "base": base, "after_put": after_put, "after_get": after_get,
        "put_sha": put.sha256, "get_sha": got.sha256, "put_etag": put.etag,
    }))

asyncio.run(main(*sys.argv[1:]))
"""


def write_big_file(path: Path) -> str:
    """A non-trivial repeating pattern (not zeros), returning its sha256."""
    block = hashlib.sha256(b"runner").digest() * (1024 * 1024 // 32)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(SIZE // len(block)):
            chunk = i.to_bytes(8, "big") + block[8:]
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def test_multipart_round_trip_in_bounded_memory(
    s3_store_uri: str, s3_settings: StoreSettings, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    dest = tmp_path / "out" / "big.bin"
    expected = write_big_file(src)
    assert s3_settings.endpoint_url is not None
    out = subprocess.run(
        [sys.executable, "-c", CHILD, s3_store_uri, s3_settings.endpoint_url, str(src), str(dest)],
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["put_sha"] == expected
    assert result["get_sha"] == expected
    parts = -(-SIZE // s3_settings.multipart_chunk_bytes)
    assert str(result["put_etag"]).endswith(f"-{parts}")  # it really was a multipart upload
    assert dest.stat().st_size == SIZE
    put_growth = result["after_put"] - result["base"]
    get_growth = result["after_get"] - result["base"]
    assert put_growth < MAX_GROWTH, f"put_file grew RSS by {put_growth / 2**20:.0f} MiB"
    assert get_growth < MAX_GROWTH, f"get_file grew RSS by {get_growth / 2**20:.0f} MiB"
