"""Open the store a URI names: ``file:///abs/root`` or ``s3://bucket/prefix``.

The S3 adapter is imported only when an ``s3://`` URI is opened, so a step
that writes to a local store never pays for importing botocore.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from runner.config import StoreSettings
from runner.errors import ConfigError
from runner.store.base import ArtifactStore
from runner.store.file import FileStore

__all__ = ["open_store"]


def open_store(uri: str, settings: StoreSettings | None = None) -> ArtifactStore:
    """The store at ``uri``; ``settings`` configure S3 (endpoint, region, part size).

    A bare absolute path is accepted as a file store, for convenience on the CLI.
    """
    if uri.startswith("s3://"):
        from runner.store.keys import parse_s3_uri
        from runner.store.s3 import S3Store  # heavy: only for S3

        bucket, prefix = parse_s3_uri(uri)
        return S3Store(bucket, prefix, settings)
    if uri.startswith("file:"):
        return FileStore(_file_path(uri))
    if "://" not in uri and Path(uri).is_absolute():
        return FileStore(Path(uri))
    raise ConfigError(
        f"store URI {uri!r} is not supported: use file:///absolute/path or "
        "s3://bucket/prefix (set RUNNER_STORE)"
    )


def _file_path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError(
            f"store URI {uri!r} is not an absolute file URI: write file:///absolute/path "
            "(three slashes)"
        )
    return Path(unquote(parts.path))
