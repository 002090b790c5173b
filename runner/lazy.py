"""Names of a package loaded from their modules on first use (PEP 562).

A package's ``__init__`` that re-exports much (the authoring API, the bus)
would otherwise import all of it for whoever imports one small part: a step
process pays for every import before it reports ``step.started``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` (name ->
    module) is imported on first use, then kept in ``namespace`` (the package's
    globals) as a plain attribute."""

    def getattr_(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *names})

    return getattr_, dir_
