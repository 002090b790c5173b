"""The local trace store: OTLP/JSON lines under ``<home>/traces/<run>/``.

With no OTLP endpoint, every runner process (the controller, each step)
exports its batches here, one file per process so that no two processes
append to the same file: ``controller-<pid>.jsonl``,
``step-<step>-<attempt>-<pid>.jsonl``. Each line is one
``ExportTraceServiceRequest`` in the OTLP JSON mapping — the format of the
Collector's file exporter — holding the spans of one run.
:func:`runner.telemetry.waterfall.read_requests` reads them back.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from runner.telemetry.otlp_json import encode_spans
from runner.telemetry.waterfall import run_dir

__all__ = ["JsonLinesExporter"]

log = logging.getLogger(__name__)

RUN_ATTRIBUTE = "runner.run_id"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class JsonLinesExporter(SpanExporter):
    """Appends each batch, split by run, to ``<dir>/<run>/<file_name>``.

    ``run_id`` fixes the run (a step process serves one, and its user spans
    carry no run attribute); without it each span's ``runner.run_id``
    attribute routes it, and spans without one are not kept.
    """

    def __init__(self, directory: Path, file_name: str, run_id: str | None = None) -> None:
        self.directory = directory
        self.file_name = file_name
        self.run_id = run_id

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        by_run: dict[str, list[ReadableSpan]] = {}
        for span in spans:
            run = self.run_id or (span.attributes or {}).get(RUN_ATTRIBUTE)
            if isinstance(run, str) and _SAFE.match(run):
                by_run.setdefault(run, []).append(span)
        try:
            for run, batch in by_run.items():
                self._append(run, json.dumps(encode_spans(batch), separators=(",", ":")))
        except OSError as exc:
            # Tracing must never fail a run: lose the batch, say so once per batch.
            log.warning("could not write spans under %s: %s", self.directory, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _append(self, run: str, line: str) -> None:
        folder = run_dir(self.directory, run)
        folder.mkdir(parents=True, exist_ok=True)
        # One write per line, O_APPEND: a reader never sees half a batch
        # interleaved with another.
        fd = os.open(folder / self.file_name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
