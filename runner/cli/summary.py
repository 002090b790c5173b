"""Human-readable views of a :class:`~runner.records.RunRecord`.

:func:`summary_lines` is what ``runner run`` prints when the run ends (status,
duration, outputs location, metrics, and for a failed step its error, the tail
of its traceback and the ``runner logs`` command to read the rest);
:func:`status_lines` is the fuller ``runner status`` view with a step table.
"""

from __future__ import annotations

from runner.cli.render import (
    format_duration,
    format_size,
    format_table,
    format_time,
    format_value,
    short_digest,
)
from runner.core.state import RunStatus
from runner.records import RunRecord, StepRecord

__all__ = ["TRACEBACK_LINES", "status_lines", "summary_lines"]

TRACEBACK_LINES = 8
"""Lines of a failed step's traceback shown; ``runner logs`` has the rest."""


def summary_lines(record: RunRecord, outputs_uri: str | None = None) -> list[str]:
    """The end-of-run summary."""
    lines = [_headline(record)]
    lines += _problems(record)
    if outputs_uri and record.status is RunStatus.SUCCEEDED:
        if any(step.cached for step in record.steps.values()):
            # A cache hit writes nothing under this run: its outputs are the producer's.
            lines.append(
                f"outputs: {outputs_uri} (cached steps' outputs stay under the runs that "
                f"produced them: runner status {record.run_id} --json lists every URI)"
            )
        else:
            lines.append(f"outputs: {outputs_uri}")
    lines += _metrics(record)
    return lines


def status_lines(record: RunRecord) -> list[str]:
    """Everything ``runner status`` shows about a run."""
    lines = [
        f"run:        {record.run_id}",
        f"pipeline:   {record.pipeline} (digest {short_digest(record.digest)}, "
        f"experiment {record.experiment})",
        f"status:     {record.status.value}",
        f"created:    {format_time(record.created_at)}",
        f"started:    {format_time(record.started_at)}",
        f"finished:   {format_time(record.finished_at)}",
        f"duration:   {format_duration(record.duration_seconds)}",
        f"params:     {_params(record)}",
        "",
    ]
    rows = [
        [
            step.name,
            step.status.value,
            "yes" if step.cached else "no",
            str(step.attempts),
            format_duration(step.duration_seconds),
            _outputs(step),
        ]
        for step in record.steps.values()
    ]
    headers = ["STEP", "STATUS", "CACHED", "ATTEMPTS", "DURATION", "OUTPUTS"]
    lines += format_table(headers, rows).splitlines()
    extra = _problems(record) + _metrics(record)
    return lines + (["", *extra] if extra else [])


def _headline(record: RunRecord) -> str:
    counts = ", ".join(f"{n} {status.value}" for status, n in record.counts().items())
    took = format_duration(record.duration_seconds)
    return (
        f"run {record.run_id} {record.status.value} in {took}: "
        f"{len(record.steps)} step(s) ({counts or 'none'})"
    )


def _problems(record: RunRecord) -> list[str]:
    lines: list[str] = []
    if record.status is RunStatus.CANCELLED and record.cancel_reason:
        lines.append(f"cancelled: {record.cancel_reason}")
    failed = record.failed_steps()
    for step in failed:
        lines += _failure(record.run_id, step)
    if record.error is not None and not failed:
        lines.append(f"error: {record.error.message}")
    return lines


def _failure(run_id: str, step: StepRecord) -> list[str]:
    error = step.error
    if error is None:
        return [f"step {step.name} failed"]
    kind = f"{error.type}: " if error.type else ""
    lines = [
        f"step {step.name} failed (attempt {step.attempts}, {error.reason}): {kind}{error.message}"
    ]
    if error.traceback:
        tail = error.traceback.rstrip().splitlines()[-TRACEBACK_LINES:]
        lines += [f"  | {line}" for line in tail]
    lines.append(f"  full log: runner logs {run_id} {step.name}")
    return lines


def _metrics(record: RunRecord) -> list[str]:
    lines = []
    for step in record.steps.values():
        for name, values in step.metrics.items():
            shown = " ".join(f"{k}={format_value(v, 24)}" for k, v in sorted(values.items()))
            lines.append(f"metrics {step.name}/{name}: {shown or '(none)'}")
    return lines


def _params(record: RunRecord) -> str:
    if not record.params:
        return "(none)"
    return ", ".join(f"{k}={format_value(v, 40)}" for k, v in record.params.items())


def _outputs(step: StepRecord) -> str:
    parts = [f"{name} ({format_size(out.size)})" for name, out in step.outputs.items()]
    parts += [f"{name}={format_value(v, 30)}" for name, v in step.output_values.items()]
    return ", ".join(parts)
