"""``@container_component``: a step that runs a container command.

The decorated function is called once, at decoration time, with placeholders
for its arguments, and returns a :class:`ContainerSpec`. Placeholders become
:class:`~runner.spec.Placeholder` entries that the step fills in at run time:
a parameter gives its value, ``artifact.path`` / ``artifact.uri`` the local
path or store URI (a bare artifact means its path). A placeholder must be a
whole argument: ``["--rows", rows]``, not ``f"--rows={rows}"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, overload

from runner.dsl.component import (
    ComponentDefinition,
    check_function,
    check_image,
    component_name,
    digest_options,
)
from runner.dsl.digest import container_digest
from runner.dsl.signature import Argument, parse_signature, type_hints
from runner.dsl.sources import definition_location
from runner.errors import ComponentError, RunnerError
from runner.spec import ComponentSpec, ContainerCommand, Placeholder
from runner.spec.models import ContainerArg

__all__ = ["ContainerSpec", "container_component"]


@dataclass(frozen=True)
class ContainerSpec:
    """What a container component runs: ``image``, ``command`` and ``args``."""

    image: str
    command: Sequence[Any] = ()
    args: Sequence[Any] = ()


class _Ref:
    """``artifact.path`` / ``artifact.uri`` (or a parameter) inside a ContainerSpec."""

    __slots__ = ("placeholder",)

    def __init__(self, placeholder: Placeholder) -> None:
        self.placeholder = placeholder

    def __format__(self, format_spec: str) -> NoReturn:
        raise ComponentError(
            f"the placeholder for '{self.placeholder.name}' cannot be formatted into a "
            "string; pass it as a separate argument, e.g. args=['--rows', rows]"
        )

    def __repr__(self) -> str:
        return f"<{self.placeholder.placeholder} {self.placeholder.name}>"


class _ArtifactRef(_Ref):
    __slots__ = ("direction",)

    def __init__(self, argument: Argument) -> None:
        self.direction = argument.direction
        super().__init__(Placeholder(placeholder=f"{self.direction}_path", name=argument.name))

    @property
    def path(self) -> _Ref:
        return _Ref(Placeholder(placeholder=f"{self.direction}_path", name=self.placeholder.name))

    @property
    def uri(self) -> _Ref:
        return _Ref(Placeholder(placeholder=f"{self.direction}_uri", name=self.placeholder.name))

    @property
    def metadata(self) -> NoReturn:
        raise ComponentError(
            f"artifact '{self.placeholder.name}': metadata is not available to container "
            "components; use .path or .uri"
        )


@overload
def container_component(fn: Callable[..., Any], /) -> ComponentDefinition: ...


@overload
def container_component(
    fn: None = None, /, *, name: str | None = None, cache_version: str | None = None
) -> Callable[[Callable[..., Any]], ComponentDefinition]: ...


def container_component(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache_version: str | None = None,
) -> ComponentDefinition | Callable[[Callable[..., Any]], ComponentDefinition]:
    """Make a function returning a :class:`ContainerSpec` a component."""

    def decorate(f: Callable[..., Any]) -> ComponentDefinition:
        check_function(f, "@container_component")
        cname = component_name(f, name)
        where = definition_location(f)
        what = f"container component '{cname}' ({where})"
        signature = parse_signature(f, cname, where, with_returns=False)
        returns = type_hints(f, what).get("return", ContainerSpec)
        if returns is not ContainerSpec:
            raise ComponentError(
                f"{what}: must be annotated '-> ContainerSpec'; container components "
                "produce Output[...] artifacts, not return values"
            )
        command = _command(f, signature.arguments, what)
        if cache_version is not None and (not isinstance(cache_version, str) or not cache_version):
            raise ComponentError(f"{what}: cache_version must be a non-empty string")
        spec = ComponentSpec(
            name=cname,
            kind="container",
            digest="",
            container=command,
            image=command.image,
            cache_version=cache_version,
            inputs=signature.input_decls(),
            outputs=signature.output_decls(),
        )
        digest = container_digest(command, digest_options(spec))
        return ComponentDefinition(f, spec.model_copy(update={"digest": digest}), signature)

    return decorate if fn is None else decorate(fn)


def _command(
    fn: Callable[..., Any], arguments: tuple[Argument, ...], what: str
) -> ContainerCommand:
    refs = {
        a.name: _ArtifactRef(a)
        if a.is_artifact
        else _Ref(Placeholder(placeholder="input_value", name=a.name))
        for a in arguments
    }
    try:
        result = fn(**refs)
    except RunnerError:
        raise
    except Exception as exc:
        raise ComponentError(
            f"{what} raised {type(exc).__name__} while building its ContainerSpec: {exc}"
        ) from exc
    if not isinstance(result, ContainerSpec):
        raise ComponentError(f"{what} must return a ContainerSpec, got {result!r}")
    image = check_image(result.image, what)
    if image is None:
        raise ComponentError(f"{what}: ContainerSpec needs an image")
    return ContainerCommand(
        image=image,
        command=[_arg(item, what) for item in _sequence(result.command, "command", what)],
        args=[_arg(item, what) for item in _sequence(result.args, "args", what)],
    )


def _sequence(value: Any, field: str, what: str) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ComponentError(f"{what}: ContainerSpec.{field} must be a list, got {value!r}")
    return value


def _arg(item: Any, what: str) -> ContainerArg:
    if isinstance(item, _Ref):
        return item.placeholder
    if isinstance(item, str):
        return item
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item)
    raise ComponentError(
        f"{what}: {item!r} cannot be a command argument; use strings, numbers or the "
        "function's arguments (parameters, artifact.path, artifact.uri)"
    )
