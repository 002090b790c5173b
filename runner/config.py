"""Typed settings: the one place that reads the environment.

Precedence: explicit values (CLI flags, test injection) > environment >
``runner.toml`` in the home's parent directory > defaults. Environment names:
``RUNNER_*`` plus the ecosystem's own ``NATS_URL``, ``AWS_*`` /
``AWS_ENDPOINT_URL_S3``, ``KUBECONFIG`` and ``OTEL_*`` (read by their
libraries). With nothing set, everything is embedded under ``.runner/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseSettings):
    """How to reach NATS. No URL = start the embedded nats-server."""

    model_config = SettingsConfigDict(env_prefix="RUNNER_NATS_", extra="ignore", populate_by_name=True)

    url: str | None = Field(
        default=None, validation_alias=AliasChoices("NATS_URL", "RUNNER_NATS_URL")
    )
    """``nats://host:4222`` of an external server; unset = embedded server."""
    user: str | None = None
    """Username for user/password auth."""
    password: SecretStr | None = None
    """Password for user/password auth (never logged)."""
    token: SecretStr | None = None
    """Token auth (never logged)."""
    creds_file: Path | None = None
    """A ``.creds`` file (JWT + nkey seed) for decentralised auth."""
    tls_ca: Path | None = None
    """CA bundle to verify the server's certificate (enables TLS)."""
    tls_cert: Path | None = None
    """Client certificate for mutual TLS."""
    tls_key: Path | None = None
    """Client key for mutual TLS."""
    stream: str = "RUNNER_EVENTS"
    """JetStream stream holding ``runner.events.>``."""
    stream_max_age_seconds: float = 30 * 24 * 3600.0
    """How long events are kept (the audit log and replay source)."""
    duplicate_window_seconds: float = 120.0
    """JetStream dedup window on ``Nats-Msg-Id``."""
    state_bucket: str = "runner-runs"
    """KV bucket holding run state."""
    connect_timeout_seconds: float = 5.0
    """How long to try to reach the server before giving up."""


class StoreSettings(BaseSettings):
    """Where artifacts, cache manifests and code packages live."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_STORE_", extra="ignore", populate_by_name=True
    )

    uri: str | None = Field(default=None, validation_alias=AliasChoices("RUNNER_STORE"))
    """``file:///abs/path`` or ``s3://bucket/prefix``; unset = ``<home>/store``."""
    endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    )
    """S3 endpoint for MinIO or any S3-compatible store."""
    region: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    """S3 region (credentials come from the standard AWS chain, never from here)."""
    multipart_chunk_bytes: int = 8 * 1024 * 1024
    """Part size for streaming multipart uploads; memory use is bounded by it."""


class LocalExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNNER_LOCAL_", extra="ignore")

    concurrency: int | None = None
    """Steps running at once; unset = CPU count."""
    strict_gpu: bool = False
    """Refuse (fail) a step that asks for a GPU when none is available."""
    gpus: str | None = None
    """Comma-separated GPU ids to hand out; unset = detect with nvidia-smi."""


class Settings(BaseSettings):
    """Everything runner reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="RUNNER_", extra="ignore")

    home: Path = Path(".runner")
    """State directory of the embedded default (nats data, file store, pid files)."""
    executor: Literal["local", "kubernetes"] = "local"
    """Where steps run."""
    nats: NatsSettings = Field(default_factory=NatsSettings)
    storage: StoreSettings = Field(default_factory=StoreSettings)
    local: LocalExecutorSettings = Field(default_factory=LocalExecutorSettings)

    def store_uri(self) -> str:
        """The store URI, defaulting to a file store under the home."""
        if self.storage.uri:
            return self.storage.uri
        return (self.home.resolve() / "store").as_uri()
