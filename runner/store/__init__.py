"""The artifact store: where artifacts, cache manifests and code live (DESIGN §6-7).

``open_store(uri)`` returns an :class:`ArtifactStore` — :class:`FileStore` for
``file://`` (the embedded default), ``S3Store`` for ``s3://`` (imported
lazily from :mod:`runner.store.s3`, since botocore is slow to import), and
:class:`MemoryStore` is the in-memory fake for tests.
"""

from runner.store.base import ArtifactStore, ObjectInfo
from runner.store.dirs import get_dir, put_dir
from runner.store.factory import open_store
from runner.store.file import FileStore
from runner.store.memory import MemoryStore

__all__ = [
    "ArtifactStore",
    "FileStore",
    "MemoryStore",
    "ObjectInfo",
    "get_dir",
    "open_store",
    "put_dir",
]
