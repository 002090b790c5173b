"""Key validation, the layout helpers and open_store's URI handling."""

from __future__ import annotations

import pytest

from runner.config import StoreSettings
from runner.errors import ConfigError, InvalidNameError
from runner.store import keys, open_store
from tests.unit.store.contract import BAD_KEYS

HEX = "ab" * 32


@pytest.mark.parametrize(
    "key", ["a", "runs/r1/train[3]/model", "a/b.c/d-e_f=g,h", ".hidden", "a..b", "x" * 200]
)
def test_good_keys(key: str) -> None:
    assert keys.validate_key(key) == key


@pytest.mark.parametrize("key", [*BAD_KEYS, "a" * 1025, None])
def test_bad_keys(key: str) -> None:
    with pytest.raises(InvalidNameError):
        keys.validate_key(key)


@pytest.mark.parametrize("prefix", ["", "runs/", "runs/r1", "runs/r1/tr"])
def test_good_prefixes(prefix: str) -> None:
    assert keys.validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "runs//", "../", "a/../"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidNameError):
        keys.validate_prefix(prefix)


def test_layout() -> None:
    assert keys.run_output_key("r1", "train[3]", "model") == "runs/r1/train[3]/model"
    assert keys.log_key("r1", "train", 2) == "runs/r1/train/logs/2.txt"
    assert keys.pipeline_spec_key("iris", "sha256:" + HEX) == f"pipelines/iris/{HEX}.json"
    assert keys.pipeline_spec_key("iris", "v1.2.0") == "pipelines/iris/v1.2.0.json"
    assert keys.code_key("sha256:" + HEX) == f"code/{HEX}.tar.gz"
    assert keys.cache_manifest_key(HEX) == f"cache/ab/{HEX}.json"


@pytest.mark.parametrize(
    "call",
    [
        lambda: keys.run_output_key("../r", "s", "o"),
        lambda: keys.run_output_key("r", "s/x", "o"),
        lambda: keys.run_output_key("r", "s", "o-x"),
        lambda: keys.run_output_key("r", "s", "o.x"),
        lambda: keys.run_output_key("r", "s", "logs"),
        lambda: keys.log_key("r", "s", -1),
        lambda: keys.pipeline_spec_key("iris", "../v1"),
        lambda: keys.pipeline_spec_key("iris", "v1/x"),
        lambda: keys.code_key("not-hex"),
        lambda: keys.cache_manifest_key("../" + HEX),
    ],
)
def test_layout_rejects_bad_names(call: object) -> None:
    with pytest.raises(InvalidNameError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://my.bucket-1/", "my.bucket-1", ""),
        ("s3://b12/a/b/", "b12", "a/b"),
    ],
)
def test_parse_s3_uri(uri: str, bucket: str, prefix: str) -> None:
    assert keys.parse_s3_uri(uri) == (bucket, prefix)


@pytest.mark.parametrize(
    "uri", ["s3://", "s3://Upper", "s3://ab", "s3://a..b", "s3://1.2.3.4", "s3://b/../x", "gs://b"]
)
def test_parse_bad_s3_uri(uri: str) -> None:
    with pytest.raises(InvalidNameError):
        keys.parse_s3_uri(uri)


async def test_open_store_s3_uri_is_lazy_and_offline() -> None:
    store = open_store("s3://bucket/pre/fix", StoreSettings(endpoint_url="http://127.0.0.1:9"))
    try:
        assert store.uri == "s3://bucket/pre/fix"
        assert store.uri_for("a/b") == "s3://bucket/pre/fix/a/b"
        assert store.key_for("s3://bucket/pre/fix/a/b") == "a/b"
    finally:
        await store.close()


@pytest.mark.parametrize("uri", ["gs://b/p", "file://host/x", "relative/path", "file:relative"])
def test_open_store_rejects_unknown_uris(uri: str) -> None:
    with pytest.raises(ConfigError):
        open_store(uri)
