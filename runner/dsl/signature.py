"""Reading a component's inputs and outputs from its type hints.

Plain JSON types are parameters, ``Input[T]`` / ``Output[T]`` are artifacts,
and the return annotation names the output parameters: a plain type gives one
output called ``output``, a NamedTuple or TypedDict one output per field,
``None`` (or no annotation) none. Everything is checked here, once, when the
decorator runs.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.dsl.artifacts import Artifact, Direction, IOMarker
from runner.dsl.params import ParamType, describe, normalize, parameter_type, value_problem
from runner.dsl.status import PipelineTaskFinalStatus
from runner.errors import ComponentError
from runner.spec import InputDecl, IOKind, OutputDecl, ParameterType

__all__ = ["RETURN_OUTPUT", "Argument", "Signature", "parse_signature", "type_hints"]

RETURN_OUTPUT = "output"
"""The name of the output parameter a plain (non-NamedTuple) return value becomes."""

_ARTIFACT_HINT = "an artifact (Input[Dataset], Output[Model]...)"
_PARAMETER_HINT = "int, float, str, bool, list, dict, Any (or X | None)"


@dataclass(frozen=True)
class Argument:
    """One argument of a component function."""

    name: str
    param: ParamType | None = None
    """The JSON type, for a parameter."""
    artifact: type[Artifact] | None = None
    """The artifact class, for ``Input[T]`` / ``Output[T]``."""
    direction: Direction = "input"
    optional: bool = False
    default: Any = None
    is_list: bool = False
    """``Input[list[Model]]``: a list of artifacts, filled by ``Collected``."""
    final_status: bool = False
    """A ``PipelineTaskFinalStatus`` parameter: filled for an exit handler's task."""

    @property
    def is_output(self) -> bool:
        return self.direction == "output"

    @property
    def is_artifact(self) -> bool:
        return self.artifact is not None

    def describe(self) -> str:
        if self.artifact is not None:
            inner = f"list[{self.artifact.__name__}]" if self.is_list else self.artifact.__name__
            return f"{self.direction.capitalize()}[{inner}]"
        if self.final_status:
            return "PipelineTaskFinalStatus"
        assert self.param is not None
        return describe(self.param)


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a component, in signature order."""

    arguments: tuple[Argument, ...]
    returns: tuple[tuple[str, ParamType], ...] = ()
    """Output parameters produced by the return value, in order."""
    named_returns: bool = False
    """True for a NamedTuple/TypedDict return (one output per field)."""

    def argument(self, name: str) -> Argument | None:
        return next((a for a in self.arguments if a.name == name), None)

    def input_decls(self) -> list[InputDecl]:
        return [
            InputDecl(
                name=a.name,
                kind=IOKind.ARTIFACT if a.is_artifact else IOKind.PARAMETER,
                parameter_type=a.param.type if a.param else None,
                artifact_kind=a.artifact.kind if a.artifact else None,
                optional=a.optional,
                default=a.default,
                is_list=a.is_list,
            )
            for a in self.arguments
            if not a.is_output
        ]

    def output_decls(self) -> list[OutputDecl]:
        artifacts = [
            OutputDecl(name=a.name, kind=IOKind.ARTIFACT, artifact_kind=a.artifact.kind)
            for a in self.arguments
            if a.is_output and a.artifact is not None
        ]
        params = [
            OutputDecl(name=name, kind=IOKind.PARAMETER, parameter_type=ptype.type)
            for name, ptype in self.returns
        ]
        return artifacts + params


def type_hints(obj: Any, what: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise ComponentError(
            f"{what}: cannot resolve its type hints ({type(exc).__name__}: {exc}); "
            "make sure every name used in an annotation is importable at module level"
        ) from exc


def parse_signature(
    fn: Callable[..., Any], component: str, where: str, *, with_returns: bool = True
) -> Signature:
    """Inputs/outputs of ``fn``; ``where`` (``file.py:line``) goes into errors."""
    what = f"component '{component}' ({where})"
    hints = type_hints(fn, what)
    arguments = tuple(_argument(p, hints, what) for p in inspect.signature(fn).parameters.values())
    returns_hint = hints.get("return") if with_returns else None
    returns = _returns(returns_hint, what)
    names = [a.name for a in arguments if a.is_output] + [name for name, _ in returns]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash is not None:
        raise ComponentError(
            f"{what}: two outputs are called '{clash}' (an Output[...] argument and a "
            "returned value); rename one of them"
        )
    return Signature(arguments, returns, named_returns=_is_record(returns_hint))


def _argument(param: inspect.Parameter, hints: dict[str, Any], what: str) -> Argument:
    arg = f"{what}: argument '{param.name}'"
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
        raise ComponentError(
            f"{arg}: *args, **kwargs and positional-only arguments are not supported; "
            "declare each input as a named argument"
        )
    if param.name not in hints:
        raise ComponentError(
            f"{arg} has no type hint; annotate it with a parameter type ({_PARAMETER_HINT}) "
            f"or {_ARTIFACT_HINT}"
        )
    hint = hints[param.name]
    has_default = param.default is not param.empty
    if hint is PipelineTaskFinalStatus:
        if has_default:
            raise ComponentError(
                f"{arg}: a PipelineTaskFinalStatus is filled in; remove its default"
            )
        return Argument(param.name, param=ParamType(ParameterType.DICT), final_status=True)
    artifact = _artifact_hint(hint)
    if artifact is not None:
        return _artifact_argument(param, *artifact, arg)
    inner = typing.get_args(hint)
    if typing.get_origin(hint) is list and inner and _is_artifact_class(inner[0]):
        raise ComponentError(
            f"{arg}: annotate a list of artifacts as Input[list[{inner[0].__name__}]] "
            f"(filled by Collected(...)), not bare list[{inner[0].__name__}]"
        )
    if isinstance(hint, type) and issubclass(hint, Artifact):
        raise ComponentError(
            f"{arg}: annotate artifacts as Input[{hint.__name__}] (read) or "
            f"Output[{hint.__name__}] (written by the component), not bare {hint.__name__}"
        )
    ptype = parameter_type(hint)
    if ptype is None:
        raise ComponentError(
            f"{arg}: {_hint_name(hint)} is not a parameter type; use {_PARAMETER_HINT} "
            f"or {_ARTIFACT_HINT}"
        )
    if not has_default:
        return Argument(param.name, param=ptype)
    problem = value_problem(param.default, ptype)
    if problem is not None:
        raise ComponentError(f"{arg}: the default {param.default!r} is unusable: {problem}")
    return Argument(param.name, param=ptype, optional=True, default=normalize(param.default, ptype))


def _artifact_argument(param: inspect.Parameter, cls: Any, marker: IOMarker, arg: str) -> Argument:
    wrapper = marker.direction.capitalize()
    if typing.get_origin(cls) is list:
        return _artifact_list_argument(param, cls, marker, arg)
    if not (isinstance(cls, type) and issubclass(cls, Artifact)):
        raise ComponentError(
            f"{arg}: {wrapper}[...] takes an artifact class (Artifact, Dataset, Model, "
            f"Metrics), got {_hint_name(cls)}; for plain values use the type itself"
        )
    if param.default is param.empty:
        return Argument(param.name, artifact=cls, direction=marker.direction)
    if marker.direction == "output":
        raise ComponentError(
            f"{arg}: an Output[...] argument is provided by the runner; remove its default"
        )
    if param.default is not None:
        raise ComponentError(
            f"{arg}: an Input[...] artifact can only default to None (an optional input)"
        )
    return Argument(param.name, artifact=cls, optional=True)


def _artifact_list_argument(
    param: inspect.Parameter, hint: Any, marker: IOMarker, arg: str
) -> Argument:
    """``Input[list[Model]]``: the artifacts of every iteration of a loop (``Collected``)."""
    (cls,) = typing.get_args(hint) or (None,)
    if not (isinstance(cls, type) and issubclass(cls, Artifact)):
        raise ComponentError(
            f"{arg}: Input[list[...]] takes an artifact class, e.g. Input[list[Model]], "
            f"got {_hint_name(hint)}"
        )
    if marker.direction == "output":
        raise ComponentError(
            f"{arg}: an Output[...] is one artifact; a list of artifacts can only be an input"
        )
    if param.default is not param.empty:
        raise ComponentError(f"{arg}: an Input[list[...]] artifact cannot have a default")
    return Argument(param.name, artifact=cls, is_list=True)


def _returns(hint: Any, what: str) -> tuple[tuple[str, ParamType], ...]:
    if hint is None or hint is type(None):
        return ()
    if _is_record(hint):
        fields = type_hints(hint, f"{what}: return type {hint.__name__}")
        return tuple((name, _return_type(name, field, what)) for name, field in fields.items())
    return ((RETURN_OUTPUT, _return_type(RETURN_OUTPUT, hint, what)),)


def _return_type(name: str, hint: Any, what: str) -> ParamType:
    ptype = parameter_type(hint)
    if ptype is None:
        raise ComponentError(
            f"{what}: return value '{name}' has type {_hint_name(hint)}, which is not a "
            f"parameter type ({_PARAMETER_HINT}); write artifacts to an Output[...] "
            "argument instead of returning them"
        )
    return ptype


def _artifact_hint(hint: Any) -> tuple[Any, IOMarker] | None:
    """``(class, marker)`` of ``Input[T]`` / ``Output[T]``, also inside ``... | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        return _artifact_hint(members[0]) if len(members) == 1 else None
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    marker = next((m for m in hint.__metadata__ if isinstance(m, IOMarker)), None)
    return None if marker is None else (typing.get_args(hint)[0], marker)


def _is_artifact_class(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Artifact)


def _is_record(hint: Any) -> bool:
    """A NamedTuple or TypedDict class: a return type with named fields."""
    if not isinstance(hint, type):
        return False
    return (issubclass(hint, tuple) and hasattr(hint, "_fields")) or typing.is_typeddict(hint)


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint)
