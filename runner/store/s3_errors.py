"""Translate botocore/aiohttp failures into the runner error tree.

The S3 adapter wraps every call so nothing from botocore leaks into core code
or the CLI. Retry meaning is in the type: unreachable endpoints, 5xx and
throttling become :class:`TransientStoreError`; a missing bucket or denied
access become :class:`PermanentStoreError` carrying the fix; a missing key is
:class:`ObjectNotFoundError`.

Messages name the endpoint and the bucket, never credentials: for
authentication failures the server's own message is left out, because it
can echo the access key id and the string that was signed.
"""

from __future__ import annotations

import asyncio

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from runner.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)

__all__ = ["error_code", "translate"]

_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_AUTH = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "403",
    }
)
_TRANSIENT = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",
        "OperationAborted",
    }
)
_UNREACHABLE = (
    ConnectionError,
    HTTPClientError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)
_CREDENTIALS_FIX = (
    "check credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the "
    "instance/pod role) and the bucket policy"
)


def error_code(exc: ClientError) -> tuple[str, int]:
    """The S3 error code and HTTP status of a ``ClientError``."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def translate(
    exc: BaseException, *, endpoint: str, bucket: str, store_uri: str, op: str, key: str | None
) -> StoreError:
    """The runner error for ``exc`` raised by ``op`` on ``key``; raise it ``from exc``."""
    where = f"bucket {bucket!r} at {endpoint}"
    what = f"{op} {key!r}" if key else op
    if isinstance(exc, ClientError):
        return _client_error(
            exc, where=where, what=what, bucket=bucket, store_uri=store_uri, key=key
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return PermanentStoreError(
            f"no usable AWS credentials for {where} ({type(exc).__name__}): {_CREDENTIALS_FIX}"
        )
    if isinstance(
        exc,
        ConnectionError | HTTPClientError | aiohttp.ClientError | asyncio.TimeoutError | OSError,
    ):
        return TransientStoreError(
            f"cannot reach the S3 endpoint {endpoint} (bucket {bucket!r}) during {what}: "
            f"{type(exc).__name__}: {exc}. Check that the server is running and that "
            "AWS_ENDPOINT_URL_S3 (or the store settings' endpoint_url) points at it"
        )
    if isinstance(exc, BotoCoreError):
        return StoreError(f"S3 client failed during {what} on {where}: {type(exc).__name__}: {exc}")
    return StoreError(f"S3 client failed during {what} on {where}: {type(exc).__name__}")


def _client_error(
    exc: ClientError, where: str, what: str, *, bucket: str, store_uri: str, key: str | None
) -> StoreError:
    code, status = error_code(exc)
    if code == "NoSuchBucket":
        return PermanentStoreError(
            f"{where} does not exist: create the bucket (e.g. `aws s3 mb s3://{bucket}`, "
            "or `mc mb` on MinIO) or fix the store URI"
        )
    if code in _NOT_FOUND or status == 404:
        return ObjectNotFoundError(
            f"object {key!r} does not exist in the store {store_uri!r}: check the key, or "
            "whether the run that writes it has finished"
        )
    if code in _AUTH or status == 403:
        return PermanentStoreError(
            f"access denied ({code}) to {where} during {what}: {_CREDENTIALS_FIX}"
        )
    if code in _TRANSIENT or status >= 500 or status == 429:
        return TransientStoreError(
            f"S3 at {where} is unavailable or throttling ({code or status}) during {what}; "
            "try again later"
        )
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return PermanentStoreError(f"S3 refused {what} on {where}: {code or status}: {message}")
