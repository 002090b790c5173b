"""``file.py:line`` locations for specs and error messages.

Only the file's base name is kept: a compiled spec must be identical on every
machine and checkout, and its digest must not depend on absolute paths.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["caller_location", "definition_location", "raise_location"]


def definition_location(fn: Callable[..., Any]) -> str:
    """Where ``fn`` is defined (its first decorator line)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def caller_location() -> str:
    """The innermost frame of user code on the stack: the line that called into the DSL."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module != "runner.dsl" and not module.startswith("runner.dsl."):
            return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def raise_location(exc: BaseException, filename: str) -> str | None:
    """The innermost line of ``filename`` in the traceback of ``exc``, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return f"{os.path.basename(filename)}:{frames[-1].lineno}" if frames else None
