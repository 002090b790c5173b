"""Where a Python file lives as a module: its source root and dotted name.

A step imports ``module:qualname`` from the shipped source tree, so the name
must be the file's real import name, found the way Python would: walk up the
directories that hold an ``__init__.py``; the source root is the directory
above the top package. A file outside any package is a top-level module of
its own directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["main_module_name", "module_location"]


def module_location(file: Path) -> tuple[Path, str]:
    """``(source_root, dotted_module_name)`` of a ``.py`` file."""
    file = file.resolve()
    parts = [file.stem] if file.stem != "__init__" else []
    directory = file.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, ".".join(parts)


def main_module_name() -> str:
    """The importable name of the ``__main__`` module (``python pipeline.py``).

    ``python -m pkg.mod`` records the real name in ``__spec__``; a script run
    by path gets the name its file would have when imported. Falls back to
    ``"__main__"`` in a REPL, where there is no file.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name).removesuffix(".__main__")
    file = getattr(main, "__file__", None)
    if not file or not str(file).endswith(".py"):
        return "__main__"
    return module_location(Path(file))[1]
