"""``@pipeline``: a function that wires components into a DAG.

The decorator checks the pipeline's typed parameters and defaults at once and
returns a :class:`PipelineDefinition`; ``compile()`` runs the function with
placeholders for its parameters and turns the tasks it creates into a
:class:`~runner.spec.PipelineSpec`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NoReturn, overload

from runner.dsl.artifacts import IOMarker
from runner.dsl.component import check_function
from runner.dsl.params import ParamType, normalize, parameter_type, value_problem
from runner.dsl.signature import type_hints
from runner.dsl.sources import definition_location
from runner.errors import ComponentError, InvalidNameError, PipelineDefinitionError
from runner.events.kinds import validate_name
from runner.spec import ParameterDecl, PipelineSpec

__all__ = ["PipelineDefinition", "compile_pipeline", "pipeline"]


class PipelineDefinition:
    """A decorated pipeline: name, typed parameters, and the function that wires tasks."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        description: str | None,
        parameters: dict[str, tuple[ParameterDecl, ParamType]],
    ) -> None:
        self._fn = fn
        self._name = name
        self._description = description
        self._parameters = parameters

    @property
    def fn(self) -> Callable[..., Any]:
        return self._fn

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def parameters(self) -> tuple[ParameterDecl, ...]:
        """The pipeline's parameters, in signature order."""
        return tuple(decl for decl, _ in self._parameters.values())

    def parameter_types(self) -> dict[str, ParamType]:
        return {name: ptype for name, (_, ptype) in self._parameters.items()}

    def compile(self) -> PipelineSpec:
        """Run the pipeline function and return the compiled spec."""
        from runner.dsl.compiler import compile_definition

        return compile_definition(self)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PipelineDefinitionError(
            f"pipeline '{self.name}' is not called directly; compile it with "
            f"{self.fn.__name__}.compile() or run it with `runner run`"
        )

    def __repr__(self) -> str:
        return f"<PipelineDefinition {self.name} ({definition_location(self.fn)})>"


@overload
def pipeline(fn: Callable[..., Any], /) -> PipelineDefinition: ...


@overload
def pipeline(
    fn: None = None, /, *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], PipelineDefinition]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> PipelineDefinition | Callable[[Callable[..., Any]], PipelineDefinition]:
    """Declare a pipeline: ``@pipeline`` or ``@pipeline(name="iris")``.

    The name defaults to the function name with ``_`` → ``-``; the description
    to the function's docstring.
    """

    def decorate(f: Callable[..., Any]) -> PipelineDefinition:
        try:
            check_function(f, "@pipeline")
        except ComponentError as exc:
            raise PipelineDefinitionError(str(exc)) from None
        where = definition_location(f)
        pname = name if name is not None else f.__name__.replace("_", "-")
        try:
            validate_name(pname, "pipeline name")
        except InvalidNameError as exc:
            raise PipelineDefinitionError(
                f"{f.__qualname__} ({where}): {exc}; pass @pipeline(name='...')"
            ) from None
        doc = description if description is not None else inspect.getdoc(f)
        return PipelineDefinition(f, pname, doc or None, _parameters(f, pname, where))

    return decorate if fn is None else decorate(fn)


def compile_pipeline(target: PipelineDefinition | Callable[..., Any]) -> PipelineSpec:
    """Compile a ``@pipeline`` (or a plain pipeline function) into a spec."""
    if not isinstance(target, PipelineDefinition):
        target = pipeline(target)
    return target.compile()


def _parameters(
    fn: Callable[..., Any], pipeline_name: str, where: str
) -> dict[str, tuple[ParameterDecl, ParamType]]:
    what = f"pipeline '{pipeline_name}' ({where})"
    try:
        hints = type_hints(fn, what)
    except ComponentError as exc:
        raise PipelineDefinitionError(str(exc)) from None
    result: dict[str, tuple[ParameterDecl, ParamType]] = {}
    for param in inspect.signature(fn).parameters.values():
        arg = f"{what}: parameter '{param.name}'"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise PipelineDefinitionError(f"{arg}: declare each parameter by name")
        hint = hints.get(param.name)
        if hint is None:
            raise PipelineDefinitionError(f"{arg} has no type hint; annotate it, e.g. rows: int")
        ptype = parameter_type(hint)
        if ptype is None:
            artifact = any(isinstance(m, IOMarker) for m in getattr(hint, "__metadata__", ()))
            cause = "artifacts come from tasks, not" if artifact else "use a JSON type for"
            raise PipelineDefinitionError(
                f"{arg}: {hint!r} is not a parameter type ({cause} pipeline parameters: "
                "int, float, str, bool, list, dict)"
            )
        decl = ParameterDecl(name=param.name, type=ptype.type)
        if param.default is not param.empty:
            problem = value_problem(param.default, ptype)
            if problem is not None:
                raise PipelineDefinitionError(
                    f"{arg}: the default {param.default!r} is unusable: {problem}"
                )
            default = normalize(param.default, ptype)
            decl = ParameterDecl(name=param.name, type=ptype.type, optional=True, default=default)
        result[param.name] = (decl, ptype)
    return result
