"""Which exporter the OTEL_* environment selects, and bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.telemetry.config import Export, load_telemetry_settings

OTEL = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "RUNNER_TRACE_DIR",
    "RUNNER_TRACE_FLUSH_TIMEOUT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)


def test_no_endpoint_means_the_local_file(tmp_path: Path) -> None:
    settings = load_telemetry_settings(trace_dir=tmp_path)
    assert settings.export() is Export.FILE
    assert load_telemetry_settings().export() is Export.NONE  # nowhere to write


def test_an_endpoint_means_otlp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    settings = load_telemetry_settings(trace_dir=tmp_path)
    assert settings.export() is Export.OTLP
    assert settings.protocol == "http/protobuf"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC")
    assert load_telemetry_settings().protocol == "grpc"


@pytest.mark.parametrize(
    ("name", "value"), [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")]
)
def test_tracing_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(name, value)
    assert load_telemetry_settings(trace_dir=tmp_path).export() is Export.NONE


def test_an_unknown_protocol_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*http/protobuf, grpc"):
        load_telemetry_settings()


def test_a_blank_endpoint_is_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", " ")
    assert load_telemetry_settings(trace_dir=tmp_path).export() is Export.FILE


def test_flush_timeout_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_TRACE_FLUSH_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="RUNNER_TRACE_FLUSH_TIMEOUT"):
        load_telemetry_settings()
