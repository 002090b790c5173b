"""Object keys: validation and the store layout (DESIGN §7).

A key is a relative, ``/``-separated path such as ``runs/r1/train[3]/model``.
Every store validates keys here before touching a file or a bucket, so no
user value can become a path unchecked: no empty segment, no ``.``/``..``, no
leading ``/``, no backslash, no control characters, and each segment uses
only ``[A-Za-z0-9._=[],-]`` (brackets so step iteration names work).

The layout helpers build the well-known keys from validated names::

    runs/<run>/<step>/<output>            run_output_key
    runs/<run>/<step>/logs/<attempt>.txt  log_key
    pipelines/<name>/<version>.json       pipeline_spec_key
    code/<digest>.tar.gz                  code_key
    cache/<key[:2]>/<key>.json            cache_manifest_key
"""

from __future__ import annotations

import re

from runner.errors import InvalidNameError
from runner.events.kinds import validate_io_name, validate_name, validate_step_name

__all__ = [
    "MAX_KEY_LENGTH",
    "cache_manifest_key",
    "code_key",
    "hex_digest",
    "join_key",
    "log_key",
    "parse_s3_uri",
    "pipeline_spec_key",
    "run_output_key",
    "validate_bucket",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_LENGTH = 1024
"""S3's own limit on key length (UTF-8 bytes); our charset is ASCII."""

_SEGMENT = re.compile(r"^[A-Za-z0-9._=\[\],-]+$")
_HEX = re.compile(r"^[0-9a-f]{16,128}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise
    :class:`~runner.errors.InvalidNameError` naming the offending segment."""
    if not isinstance(key, str) or not key:
        raise InvalidNameError(f"object key {key!r} is empty: give a relative path like 'a/b'")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidNameError(
            f"object key {key[:60]!r}... is {len(key)} characters long; "
            f"keys are limited to {MAX_KEY_LENGTH}"
        )
    if key.startswith("/"):
        raise InvalidNameError(
            f"object key {key!r} starts with '/': keys are relative to the store root"
        )
    for segment in key.split("/"):
        _check_segment(key, segment)
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: ``""``, a key, a key ending in ``/``, or a partial
    last segment (S3 prefix semantics)."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _check_segment(key: str, segment: str) -> None:
    if segment == "":
        raise InvalidNameError(
            f"object key {key!r} has an empty segment ('//' or a trailing '/'): "
            "remove the extra '/'"
        )
    if segment in (".", ".."):
        raise InvalidNameError(
            f"object key {key!r} contains {segment!r}: keys may not navigate directories"
        )
    if not _SEGMENT.match(segment):
        raise InvalidNameError(
            f"object key {key!r}: segment {segment!r} has characters outside "
            "[A-Za-z0-9._=[],-] (no spaces, backslashes, control characters, '*' or '>'); "
            "rename the file or output"
        )


def join_key(*parts: str) -> str:
    """Join key parts with ``/`` (ignoring empty parts) and validate the result."""
    return validate_key("/".join(p.strip("/") for p in parts if p.strip("/")))


def run_output_key(run_id: str, step: str, output: str) -> str:
    """``runs/<run>/<step>/<output>``: where a step's output artifact lives."""
    validate_name(run_id, "run id")
    validate_step_name(step)
    validate_io_name(output, "output")
    return f"runs/{run_id}/{step}/{output}"


def log_key(run_id: str, step: str, attempt: int) -> str:
    """``runs/<run>/<step>/logs/<attempt>.txt``: the captured log of one attempt."""
    validate_name(run_id, "run id")
    validate_step_name(step)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise InvalidNameError(f"attempt {attempt!r} must be a non-negative integer")
    return f"runs/{run_id}/{step}/logs/{attempt}.txt"


def pipeline_spec_key(name: str, digest_or_version: str) -> str:
    """``pipelines/<name>/<x>.json``: a compiled spec by digest or version.

    A ``sha256:`` prefix on a digest is dropped so the key is a plain name.
    """
    validate_name(name, "pipeline")
    x = digest_or_version.removeprefix("sha256:")
    if not _VERSION.match(x) or ".." in x:
        raise InvalidNameError(
            f"pipeline version {digest_or_version!r} is not valid: use letters, digits, "
            "'.', '_' and '-' (no '..'), starting with a letter or digit"
        )
    return f"pipelines/{name}/{x}.json"


def code_key(digest: str) -> str:
    """``code/<digest>.tar.gz``: a content-addressed code package."""
    return f"code/{hex_digest(digest, 'code package digest')}.tar.gz"


def cache_manifest_key(key: str) -> str:
    """``cache/<key[:2]>/<key>.json``: fanned out so no directory grows huge."""
    key = hex_digest(key, "cache key")
    return f"cache/{key[:2]}/{key}.json"


def hex_digest(value: str, what: str = "digest") -> str:
    """The lowercase hex of a digest, with an optional ``sha256:`` prefix dropped."""
    value = value.removeprefix("sha256:") if isinstance(value, str) else value
    if not isinstance(value, str) or not _HEX.match(value):
        raise InvalidNameError(
            f"{what} {value!r} is not a lowercase hex digest (16-128 characters of 0-9a-f)"
        )
    return value


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket(bucket: str) -> str:
    """An S3 bucket name: 3-63 of ``[a-z0-9.-]``, no ``..``, not an IP address."""
    if not _BUCKET.match(bucket) or ".." in bucket or _IPV4.match(bucket):
        raise InvalidNameError(
            f"bucket name {bucket!r} is not valid: use 3-63 lowercase letters, digits, '.' "
            "and '-', starting and ending with a letter or digit"
        )
    return bucket


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix/...`` into a validated (bucket, prefix).

    The prefix has no leading or trailing ``/`` and may be empty.
    """
    if not uri.startswith("s3://"):
        raise InvalidNameError(f"{uri!r} is not an S3 URI: expected s3://bucket/prefix")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    validate_bucket(bucket)
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
    return bucket, prefix
