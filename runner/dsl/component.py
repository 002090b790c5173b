"""``@component``: a typed Python function becomes a reusable pipeline step.

The decorator validates everything at once — names, options, type hints,
defaults — builds the component's :class:`~runner.spec.ComponentSpec` (with
its digest) and returns a :class:`ComponentDefinition`. Calling the definition
inside a ``@pipeline`` adds a task; anywhere else it runs the function, so a
component is unit-testable like any function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, overload

from runner.dsl.builder import current_builder
from runner.dsl.digest import function_source, python_digest
from runner.dsl.invoke import run_directly
from runner.dsl.modules import main_module_name
from runner.dsl.signature import Signature, parse_signature
from runner.dsl.sources import definition_location
from runner.errors import ComponentError, InvalidNameError
from runner.events.kinds import validate_name
from runner.spec import ComponentSpec

__all__ = [
    "ComponentDefinition",
    "check_function",
    "check_image",
    "component",
    "component_name",
    "digest_options",
]

_DIGEST_FIELDS = {"name", "kind", "image", "packages", "inputs", "outputs", "return_outputs"}


class ComponentDefinition:
    """A decorated component: the function, its spec, and a call that adds a task.

    The step process finds it again by ``module:qualname`` (the spec's
    ``entrypoint``) and runs it with :func:`runner.dsl.invoke.call_component`.
    """

    def __init__(self, fn: Callable[..., Any], spec: ComponentSpec, signature: Signature) -> None:
        self._fn = fn
        self._spec = spec
        self._signature = signature
        functools.update_wrapper(self, fn)

    @property
    def fn(self) -> Callable[..., Any]:
        """The undecorated function."""
        return self._fn

    @property
    def spec(self) -> ComponentSpec:
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def signature(self) -> Signature:
        """Inputs and outputs as read from the type hints."""
        return self._signature

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """In a pipeline: add a task and return it. Elsewhere: run the component."""
        builder = current_builder()
        if builder is not None:
            return builder.add_task(self, args, kwargs)
        return run_directly(self, args, kwargs)

    def __repr__(self) -> str:
        return (
            f"<ComponentDefinition {self.name} ({self._spec.kind}) {self._spec.entrypoint or ''}>"
        )


@overload
def component(fn: Callable[..., Any], /) -> ComponentDefinition: ...


@overload
def component(
    fn: None = None,
    /,
    *,
    packages: Sequence[str] | None = None,
    image: str | None = None,
    name: str | None = None,
    cache_version: str | None = None,
    warm: bool = True,
) -> Callable[[Callable[..., Any]], ComponentDefinition]: ...


def component(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    packages: Sequence[str] | None = None,
    image: str | None = None,
    name: str | None = None,
    cache_version: str | None = None,
    warm: bool = True,
) -> ComponentDefinition | Callable[[Callable[..., Any]], ComponentDefinition]:
    """Make a typed Python function a component: ``@component`` or ``@component(...)``.

    ``packages`` are pip requirements installed before the step runs, ``image``
    the container image (executors have a default), ``name`` overrides the
    name derived from the function, ``cache_version`` invalidates cached
    results without touching the code. ``warm=False`` makes the local executor
    start each attempt in a fresh interpreter instead of forking a warm worker
    that imported the module beforehand (for modules whose import must not be
    shared between attempts); it does not change the component's digest.
    """
    if not isinstance(warm, bool):
        raise ComponentError(
            f"@component(warm=...) takes True or False, got {warm!r}; warm=False starts "
            "each attempt in a fresh interpreter"
        )

    def decorate(f: Callable[..., Any]) -> ComponentDefinition:
        check_function(f, "@component")
        cname = component_name(f, name)
        where = definition_location(f)
        signature = parse_signature(f, cname, where)
        spec = ComponentSpec(
            name=cname,
            kind="python",
            digest="",
            entrypoint=f"{_module_of(f)}:{f.__qualname__}",
            image=check_image(image, cname),
            packages=_check_packages(packages, cname),
            cache_version=_check_cache_version(cache_version, cname),
            inputs=signature.input_decls(),
            outputs=signature.output_decls(),
            return_outputs=[n for n, _ in signature.returns],
            warm=warm,
        )
        digest = python_digest(f, function_source(f, cname), digest_options(spec))
        return ComponentDefinition(f, spec.model_copy(update={"digest": digest}), signature)

    return decorate if fn is None else decorate(fn)


def digest_options(spec: ComponentSpec) -> dict[str, Any]:
    """The parts of a spec that change what runs, for the component digest."""
    return spec.model_dump(mode="json", include=_DIGEST_FIELDS)


def check_function(fn: object, decorator: str) -> None:
    if isinstance(fn, ComponentDefinition):
        raise ComponentError(f"{fn.name} is already a component; decorate it once")
    if not inspect.isfunction(fn):
        raise ComponentError(
            f"{decorator} decorates a function, got {fn!r}; to pass options write "
            f"{decorator}(name=...) with keyword arguments"
        )
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise ComponentError(
            f"{decorator} {fn.__qualname__} ({definition_location(fn)}): async and "
            "generator functions cannot be components; use a plain def"
        )


def component_name(fn: Callable[..., Any], name: str | None) -> str:
    """``name`` or the function name with ``_`` → ``-``, checked as a name."""
    candidate = name if name is not None else fn.__name__.replace("_", "-")
    try:
        return validate_name(candidate, "component name")
    except InvalidNameError as exc:
        raise ComponentError(
            f"{fn.__qualname__} ({definition_location(fn)}): {exc}; pass a valid name, "
            "e.g. @component(name='train-model')"
        ) from None


def check_image(image: object, component: str) -> str | None:
    if image is None:
        return None
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise ComponentError(
            f"component '{component}': image must be an image reference such as "
            f"'python:3.11-slim', got {image!r}"
        )
    return image


def _check_packages(packages: object, component: str) -> list[str]:
    if packages is None:
        return []
    if isinstance(packages, str) or not isinstance(packages, list | tuple):
        raise ComponentError(
            f"component '{component}': packages must be a list of pip requirements, "
            f"e.g. packages=['scikit-learn>=1.3'], got {packages!r}"
        )
    for requirement in packages:
        if (
            not isinstance(requirement, str)
            or not requirement.strip()
            or requirement.lstrip().startswith("-")
            or any(c in requirement for c in "\r\n")
        ):
            raise ComponentError(
                f"component '{component}': {requirement!r} is not a pip requirement "
                "(pip options such as '--index-url' are not allowed here)"
            )
    return list(packages)


def _check_cache_version(value: object, component: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ComponentError(
            f"component '{component}': cache_version must be a non-empty string, got {value!r}"
        )
    return value


def _module_of(fn: Callable[..., Any]) -> str:
    """The module a step must import: the real name even for ``python pipeline.py``."""
    return main_module_name() if fn.__module__ == "__main__" else fn.__module__
