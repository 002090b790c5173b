"""Plain-text building blocks for command output: tables, durations, sizes, times.

Listings (``runner runs list``, ``runner cache ls``, ``runner status``) are
aligned columns without box drawing or colour, like ``kubectl get``: the
same bytes on a terminal and in a pipe, easy to ``grep`` and ``awk``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "format_duration",
    "format_size",
    "format_table",
    "format_time",
    "format_value",
    "short_digest",
]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], gap: int = 2) -> str:
    """Left-aligned columns; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    """``0.04s``, ``12.3s``, ``4m05s``, ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(size: int | None) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``..."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_time(when: datetime | None, *, date: bool = True) -> str:
    """Local time, ``2024-05-01 12:00:01`` (or ``12:00:01``); ``-`` when unknown."""
    if when is None:
        return "-"
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    local = aware.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def format_value(value: Any, limit: int = 60) -> str:
    """A parameter or output value on one line, shortened past ``limit`` characters."""
    text = repr(value) if isinstance(value, str) else _json_like(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_digest(digest: str, length: int = 12) -> str:
    """``sha256:abcdef...`` -> ``abcdef012345``."""
    return digest.rpartition(":")[2][:length]


def _json_like(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)
