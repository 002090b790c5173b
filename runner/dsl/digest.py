"""Component digests: what identifies a component's code for caching.

A Python component's digest covers its own source and the source of every
same-module function, class, constant and import binding it names, followed
transitively, plus the options that change what runs. The module is read
with :mod:`ast`, not by inspecting live objects, so helpers defined *below*
the component count too even though the decorator runs before they exist.
Only source text enters the hash (never line numbers, paths or ``hash()``),
so the digest is the same on every machine and under every ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import ComponentError
from runner.spec import ContainerCommand, canonical_json, sha256_hex

__all__ = ["container_digest", "function_source", "python_digest"]


class _Binding:
    """A top-level name's defining text and the names that text uses."""

    __slots__ = ("names", "text")

    def __init__(self, text: str, names: frozenset[str]) -> None:
        self.text = text
        self.names = names


def function_source(fn: Callable[..., Any], component: str) -> str:
    """The dedented source of ``fn`` (decorators included)."""
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise ComponentError(
            f"component '{component}': cannot read the source of {fn.__qualname__} "
            f"({fn.__code__.co_filename}); define components in a .py file so that "
            "steps can import them and their digest can be computed"
        ) from exc


def python_digest(fn: Callable[..., Any], source: str, options: Mapping[str, Any]) -> str:
    """Digest of a Python component whose dedented source is ``source``."""
    index = _module_index(_module_source(fn))
    try:
        pending = sorted(_names(ast.parse(source)) - {fn.__name__})
    except SyntaxError:  # e.g. a lambda cut out of a longer expression
        pending = []
    references: dict[str, str] = {}
    while pending:
        name = pending.pop()
        binding = index.get(name)
        if binding is None or name in references or name == fn.__name__:
            continue
        references[name] = binding.text
        pending.extend(sorted(binding.names - references.keys()))
    payload = {"kind": "python", "source": source, "references": references, "options": options}
    return sha256_hex(canonical_json(payload))


def container_digest(command: ContainerCommand, options: Mapping[str, Any]) -> str:
    """Digest of a container component: image, command and args, and io declarations."""
    payload = {
        "kind": "container",
        "container": command.model_dump(mode="json"),
        "options": options,
    }
    return sha256_hex(canonical_json(payload))


def _module_source(fn: Callable[..., Any]) -> str:
    try:
        filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    except TypeError:
        return ""
    return "".join(linecache.getlines(filename, fn.__globals__))


@functools.lru_cache(maxsize=32)
def _module_index(source: str) -> Mapping[str, _Binding]:
    """Each top-level name of a module's source → its binding (the last one wins)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    lines = source.splitlines(keepends=True)
    index: dict[str, _Binding] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            index.update(_import_bindings(node))
            continue
        names = _defined_names(node)
        if names:
            start = min([node.lineno] + [d.lineno for d in _decorators(node)])
            end = node.end_lineno or node.lineno
            binding = _Binding("".join(lines[start - 1 : end]), frozenset(_names(node)))
            index.update(dict.fromkeys(names, binding))
    return index


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [
            n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)
        ]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _decorators(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.decorator_list
    return []


def _import_bindings(node: ast.Import | ast.ImportFrom) -> dict[str, _Binding]:
    """One normalised statement per bound name, so that adding an unrelated name
    to a shared ``from x import a, b`` line changes no digest."""
    bindings: dict[str, _Binding] = {}
    for alias in node.names:
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            text = f"from {module} import {alias.name}"
            bound = alias.asname or alias.name
        else:
            text = f"import {alias.name}"
            bound = alias.asname or alias.name.split(".")[0]
        if alias.asname:
            text += f" as {alias.asname}"
        bindings[bound] = _Binding(text, frozenset())
    return bindings


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
