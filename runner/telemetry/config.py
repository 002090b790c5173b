"""Telemetry settings: the standard ``OTEL_*`` environment plus where local traces go.

The OTLP exporters read the rest of their environment themselves (headers,
certificates, compression, per-request timeout, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``); this is what runner
itself decides on: whether to trace at all, OTLP or the local file, which
OTLP protocol, and how long a process may spend flushing at exit.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pydantic
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runner.errors import ConfigError

__all__ = ["Export", "TRACE_DIR_ENV", "TelemetrySettings", "load_telemetry_settings"]

TRACE_DIR_ENV = "RUNNER_TRACE_DIR"
"""Where the local file exporter writes; the controller passes it to its steps."""
_PROTOCOLS = ("http/protobuf", "grpc")


class Export(StrEnum):
    NONE = "none"
    """Tracing is off: no provider, no OpenTelemetry SDK import."""
    OTLP = "otlp"
    """Batch export to the OTLP endpoint."""
    FILE = "file"
    """Batch export as OTLP JSON lines under :attr:`TelemetrySettings.trace_dir`."""


class TelemetrySettings(BaseSettings):
    """How runner's processes trace (read from the environment only)."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_TRACE_",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    sdk_disabled: bool = Field(default=False, validation_alias="OTEL_SDK_DISABLED")
    """``OTEL_SDK_DISABLED=true`` turns tracing off in every runner process."""
    traces_exporter: str = Field(default="otlp", validation_alias="OTEL_TRACES_EXPORTER")
    """``none`` turns export off; anything else means OTLP (or the local file)."""
    endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )
    """The OTLP collector (Jaeger: ``http://localhost:4318`` or ``:4317`` for grpc);
    unset = spans go to the local file."""
    protocol: str = Field(
        default="http/protobuf",
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
        ),
    )
    """``http/protobuf`` (default) or ``grpc``."""
    trace_dir: Path | None = Field(default=None, validation_alias=TRACE_DIR_ENV)
    """Directory of the local trace files (``<home>/traces``)."""
    flush_timeout: float = Field(default=5.0, gt=0)
    """``RUNNER_TRACE_FLUSH_TIMEOUT``: the most seconds a process waits at exit for its
    spans to be exported; an unreachable collector costs no more than this."""

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in _PROTOCOLS:
            raise ValueError(f"must be one of {', '.join(_PROTOCOLS)}, not {value!r}")
        return value

    @field_validator("endpoint", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value if not (isinstance(value, str) and not value.strip()) else None

    def export(self) -> Export:
        """Where this process's spans go."""
        if self.sdk_disabled or self.traces_exporter.strip().lower() == "none":
            return Export.NONE
        if self.endpoint:
            return Export.OTLP
        return Export.FILE if self.trace_dir is not None else Export.NONE


def load_telemetry_settings(**overrides: object) -> TelemetrySettings:
    """Read the environment; a bad value is a ConfigError naming the variable."""
    try:
        return TelemetrySettings(**overrides)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigError(
            f"tracing setting {_env_names(name)} = {error.get('input')!r} is invalid: "
            f"{error['msg']}; fix the environment variable (see docs/tracing.md)"
        ) from None


def _env_names(name: str) -> str:
    """Every environment variable that sets the field ``name`` (or an alias of it)."""
    for field_name, field in TelemetrySettings.model_fields.items():
        alias = field.validation_alias
        names = list(alias.choices) if isinstance(alias, AliasChoices) else [alias or ""]
        if name == field_name or name in names:
            found = [str(n) for n in names if n] or [f"RUNNER_TRACE_{field_name.upper()}"]
            return " / ".join(found)
    return name
