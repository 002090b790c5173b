"""Small helpers shared by the DSL tests."""

from __future__ import annotations

from pathlib import Path


def line_of(file: str, text: str) -> str:
    """``name.py:N`` for the first line of ``file`` containing ``text``."""
    lines = Path(file).read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if text in line)
    return f"{Path(file).name}:{number}"
