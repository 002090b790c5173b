"""The text of ``runner runs compare``: one column per run, differing rows marked ``*``."""

from __future__ import annotations

from typing import Any

from runner.cli.render import format_duration, format_table, format_value
from runner.lifecycle.compare import Comparison

__all__ = ["comparison_lines"]

MISSING = "-"


def comparison_lines(comparison: Comparison) -> list[str]:
    ids = [r.run_id for r in comparison.runs]
    rows: list[list[str]] = [
        ["  pipeline", *[_pipeline(r.pipeline, r.version) for r in comparison.runs]],
        ["  experiment", *[r.experiment for r in comparison.runs]],
        ["  status", *[r.status.value for r in comparison.runs]],
        ["  duration", *[format_duration(r.duration_seconds) for r in comparison.runs]],
    ]
    for title, values in (("parameters", comparison.params), ("metrics", comparison.metrics)):
        rows.append([f"{title}:", *["" for _ in ids]])
        if not values:
            rows.append(["  (none)", *["" for _ in ids]])
        for name, row in values.items():
            mark = "*" if name in comparison.different else " "
            rows.append([f"{mark} {name}", *[_cell(row, i) for i in ids]])
    lines = format_table(["", *ids], rows).splitlines()
    differing = len(comparison.different)
    lines.append(f"{differing} row(s) differ (marked *)" if differing else "no differences")
    if comparison.note:
        lines.append(f"note: {comparison.note}")
    return lines


def _pipeline(name: str, version: str | None) -> str:
    return f"{name}@{version}" if version else name


def _cell(row: dict[str, Any], run_id: str) -> str:
    return format_value(row[run_id], limit=30) if run_id in row else MISSING
