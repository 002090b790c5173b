"""One process's tracer provider: exporter choice, resource, derived ids, bounded flush.

Each process that traces (the controller, a step) builds its own
``TracerProvider`` with a batch span processor and either the OTLP exporter
(``http/protobuf`` or ``grpc``) or the local file exporter. The provider is
not made global except in a step process (:mod:`runner.telemetry.step`), so
that several controllers in one test process never fight over it.

Span ids of the run and step spans are derived, not random
(:mod:`runner.telemetry.ids`): :func:`derived_ids` makes the provider's id
generator hand out given ids for the one span started inside it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Tracer

from runner.errors import ConfigError
from runner.privacy import redact_url
from runner.telemetry.config import Export, TelemetrySettings
from runner.telemetry.files import JsonLinesExporter

__all__ = ["ProcessTelemetry", "derived_ids", "start_telemetry"]

log = logging.getLogger(__name__)

GRPC_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"
_FORCED: ContextVar[tuple[int, int] | None] = ContextVar("runner_forced_ids", default=None)


class _DerivedIds(IdGenerator):
    """Random ids, except inside :func:`derived_ids`."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        forced = _FORCED.get()
        return forced[1] if forced else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _FORCED.get()
        return forced[0] if forced else self._random.generate_trace_id()


@contextmanager
def derived_ids(trace_id: str, span_id: str) -> Iterator[None]:
    """Start exactly one span inside: it gets these (hex) ids."""
    token = _FORCED.set((int(trace_id, 16), int(span_id, 16)))
    try:
        yield
    finally:
        _FORCED.reset(token)


class ProcessTelemetry:
    """A started provider and the bounded way to stop it."""

    def __init__(
        self, provider: TracerProvider, exporter: SpanExporter, settings: TelemetrySettings
    ) -> None:
        self.provider = provider
        self.exporter = exporter
        self.settings = settings
        self._stopped = False

    def tracer(self, name: str) -> Tracer:
        return self.provider.get_tracer(name)

    def shutdown(self) -> None:
        """Export what is queued and stop, waiting at most ``flush_timeout`` seconds.

        The SDK's own shutdown waits for the exporter (retries included) with
        no bound a caller can set, so it runs in a daemon thread; when the
        collector does not answer in time the exporter is told to stop retrying
        and the spans are dropped.
        """
        if self._stopped:
            return
        self._stopped = True
        thread = threading.Thread(
            target=self.provider.shutdown, name="runner-trace-flush", daemon=True
        )
        thread.start()
        thread.join(self.settings.flush_timeout)
        if thread.is_alive():
            self.exporter.shutdown()  # ends the retries; a request in flight has its own timeout
            log.warning(
                "spans not exported within %gs (is the collector at %s up?); dropping them",
                self.settings.flush_timeout,
                redact_url(self.settings.endpoint or "?"),
            )


def start_telemetry(
    settings: TelemetrySettings,
    *,
    service: str,
    file_name: str,
    run_id: str | None = None,
    resource: Mapping[str, str | int] | None = None,
    write_through: bool = False,
) -> ProcessTelemetry | None:
    """A provider exporting where ``settings`` say, or None when tracing is off.

    ``service`` is the default ``service.name`` (``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` win over it); ``file_name`` and ``run_id``
    place the local trace file. ``write_through`` writes each span to the local
    file as it ends instead of batching (a step: its spans are on disk before
    it reports, so killing it right after loses none). Raises ConfigError for
    an exporter that cannot be built (grpc without its package).
    """
    export = settings.export()
    if export is Export.NONE:
        return None
    exporter = _exporter(settings, export, file_name, run_id)
    defaults: dict[str, str | int] = {
        "service.name": service,
        "service.namespace": "runner",
        "host.name": socket.gethostname(),
        "process.pid": os.getpid(),
        **(resource or {}),
    }
    provider = TracerProvider(
        resource=Resource.create(defaults).merge(OTELResourceDetector().detect()),
        id_generator=_DerivedIds(),
        # No unbounded flush at interpreter exit: shutdown() is always called, bounded.
        shutdown_on_exit=False,
    )
    if write_through and export is Export.FILE:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return ProcessTelemetry(provider, exporter, settings)


def _exporter(
    settings: TelemetrySettings, export: Export, file_name: str, run_id: str | None
) -> SpanExporter:
    if export is Export.FILE:
        assert settings.trace_dir is not None  # Export.FILE means there is one
        return JsonLinesExporter(Path(settings.trace_dir), file_name, run_id)
    if settings.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the package {GRPC_PACKAGE} ({exc}); "
                f"install it (pip install {GRPC_PACKAGE}) or use http/protobuf"
            ) from exc
        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
