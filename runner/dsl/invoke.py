"""Running a component: in a step process, or directly from a test.

:func:`call_component` is what the step runtime calls with resolved
parameters and artifact objects; it returns the output parameters keyed by
name. Calling a component outside a pipeline goes through
:func:`run_directly`, which gives ``Output[...]`` artifacts temporary paths and
returns the function's own return value. :func:`resolve_container_command`
turns a container component's placeholders into the final argv.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import tempfile
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.dsl.artifacts import Artifact
from runner.dsl.params import normalize, value_problem
from runner.dsl.signature import Argument
from runner.dsl.status import PipelineTaskFinalStatus
from runner.errors import ComponentError, StepError, ValidationError
from runner.spec import ContainerCommand

if TYPE_CHECKING:
    from runner.dsl.component import ComponentDefinition

__all__ = ["ArtifactArg", "call_component", "resolve_container_command", "run_directly"]

ArtifactArg = Artifact | list[Artifact]
"""An artifact argument's value: one artifact, or a list for ``Input[list[T]]``."""


def call_component(
    defn: ComponentDefinition, parameters: dict[str, Any], artifacts: dict[str, ArtifactArg]
) -> dict[str, Any]:
    """Call a Python component; return its output parameters by name.

    ``parameters`` are input parameter values (defaults fill the missing
    ones); ``artifacts`` hold every input and output artifact by argument name.
    """
    return _invoke(defn, parameters, artifacts)[1]


def run_directly(defn: ComponentDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a component as a plain function call (outside any pipeline).

    Input artifacts may be given as artifact objects or paths; ``Output[...]``
    artifacts not given get a path in a temporary directory removed afterwards
    (pass an artifact object to keep and inspect what was written).
    """
    if defn.spec.kind != "python":
        raise ComponentError(
            f"container component '{defn.name}' can only run inside a pipeline; use "
            "resolve_container_command() to see the command it would run"
        )
    try:
        given = inspect.signature(defn.fn).bind_partial(*args, **kwargs).arguments
    except TypeError as exc:
        raise ValidationError(f"component '{defn.name}': {exc}") from None
    needs_scratch = any(a.is_output and a.name not in given for a in defn.signature.arguments)
    scratch_dir = (
        tempfile.TemporaryDirectory(prefix=f"runner-{defn.name}-") if needs_scratch else None
    )
    with scratch_dir or nullcontext():
        scratch = Path(scratch_dir.name) if scratch_dir else None
        parameters: dict[str, Any] = {}
        artifacts: dict[str, ArtifactArg] = {}
        for arg in defn.signature.arguments:
            if arg.artifact is None:
                if arg.name in given:
                    parameters[arg.name] = given[arg.name]
                continue
            artifact = _direct_artifact(defn, arg, given, scratch)
            if artifact is not None:
                artifacts[arg.name] = artifact
        return _invoke(defn, parameters, artifacts)[0]


def resolve_container_command(
    cmd: ContainerCommand,
    values: dict[str, Any],
    paths: dict[str, str],
    uris: dict[str, str],
) -> list[str]:
    """The argv (command + args) with every placeholder replaced.

    ``values`` are parameter values (non-strings are JSON-encoded), ``paths``
    and ``uris`` the local paths and store URIs of artifacts by argument name.
    """
    argv: list[str] = []
    for item in [*cmd.command, *cmd.args]:
        if isinstance(item, str):
            argv.append(item)
            continue
        kind, name = item.placeholder, item.name
        table: Mapping[str, Any] = (
            values if kind == "input_value" else paths if kind.endswith("_path") else uris
        )
        if name not in table:
            raise ValidationError(f"container command: no value for placeholder {kind}('{name}')")
        argv.append(_argv_text(table[name], name))
    return argv


def _argv_text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"container command: '{name}' is not a JSON value: {exc}") from None


def _invoke(
    defn: ComponentDefinition, parameters: dict[str, Any], artifacts: dict[str, ArtifactArg]
) -> tuple[Any, dict[str, Any]]:
    if defn.spec.kind != "python":
        raise ComponentError(f"component '{defn.name}' is a container component, not a function")
    result = defn.fn(**_arguments(defn, parameters, artifacts))
    return result, _outputs(defn, result)


def _arguments(
    defn: ComponentDefinition, parameters: dict[str, Any], artifacts: dict[str, ArtifactArg]
) -> dict[str, Any]:
    what = f"component '{defn.name}'"
    known = {a.name for a in defn.signature.arguments}
    unknown = sorted((set(parameters) | set(artifacts)) - known)
    if unknown:
        raise ValidationError(f"{what}: unknown argument(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for arg in defn.signature.arguments:
        source: Mapping[str, Any] = artifacts if arg.artifact is not None else parameters
        if arg.name in source:
            kwargs[arg.name] = _checked(arg, source[arg.name], what)
        elif arg.optional:
            kwargs[arg.name] = copy.deepcopy(arg.default)
        else:
            kind = arg.describe() if arg.artifact is not None else "parameter"
            raise ValidationError(f"{what}: missing {kind} '{arg.name}'")
    return kwargs


def _checked(arg: Argument, value: Any, what: str) -> Any:
    if arg.final_status:
        if isinstance(value, PipelineTaskFinalStatus):
            return value
        return PipelineTaskFinalStatus.from_json(value)
    if arg.is_list:
        if not isinstance(value, list) or not all(isinstance(v, Artifact) for v in value):
            raise ValidationError(
                f"{what}: argument '{arg.name}' expects a list of artifact objects, got "
                f"{type(value).__name__}"
            )
        return value
    if arg.artifact is not None:
        if value is None and arg.optional and not arg.is_output:
            return None
        if not isinstance(value, Artifact):
            raise ValidationError(
                f"{what}: argument '{arg.name}' expects an {arg.describe()} artifact object, "
                f"got {type(value).__name__}"
            )
        return value
    assert arg.param is not None
    problem = value_problem(value, arg.param)
    if problem is not None:
        raise ValidationError(f"{what}: argument '{arg.name}' has the wrong type: {problem}")
    return normalize(value, arg.param)


def _outputs(defn: ComponentDefinition, result: Any) -> dict[str, Any]:
    what = f"component '{defn.name}'"
    returns = defn.signature.returns
    if not returns:
        if result is not None:
            raise StepError(
                f"{what} returned {type(result).__name__} but declares no return type; "
                "annotate the return (e.g. '-> float') or return None"
            )
        return {}
    names = [name for name, _ in returns]
    if not defn.signature.named_returns:
        values = {names[0]: result}
    elif isinstance(result, Mapping) and set(result) == set(names):
        values = dict(result)
    elif isinstance(result, tuple) and len(result) == len(names):
        values = dict(zip(names, result, strict=True))
    else:
        raise StepError(f"{what} must return the fields {', '.join(names)}, got {result!r}")
    outputs: dict[str, Any] = {}
    for name, ptype in returns:
        problem = value_problem(values[name], ptype)
        if problem is not None:
            raise StepError(f"{what}: returned value '{name}' is unusable: {problem}")
        outputs[name] = normalize(values[name], ptype)
    return outputs


def _as_artifact(cls: type[Artifact], value: Any, what: str) -> Artifact:
    if isinstance(value, cls):
        return value
    if isinstance(value, str | os.PathLike):
        path = Path(value).resolve()
        return cls(name=path.name, uri=path.as_uri(), path=str(path))
    raise ValidationError(f"{what}: each item must be an artifact object or a path, got {value!r}")


def _direct_artifact(
    defn: ComponentDefinition,
    arg: Argument,
    given: Mapping[str, Any],
    scratch: Path | None,
) -> Artifact | list[Artifact] | None:
    assert arg.artifact is not None
    what = f"component '{defn.name}': argument '{arg.name}'"
    if arg.name not in given:
        if not arg.is_output:
            return None  # an optional input left out; a required one fails in _arguments
        assert scratch is not None
        path = scratch / arg.name
        return arg.artifact(name=arg.name, uri=path.as_uri(), path=str(path))
    value = given[arg.name]
    if value is None and not arg.is_output:
        return None
    if arg.is_list and isinstance(value, list | tuple):
        assert arg.artifact is not None
        return [_as_artifact(arg.artifact, v, what) for v in value]
    if isinstance(value, str | os.PathLike) and not arg.is_output:
        path = Path(value).resolve()
        return arg.artifact(name=arg.name, uri=path.as_uri(), path=str(path))
    if not isinstance(value, arg.artifact):
        accepted = "an artifact object" if arg.is_output else "an artifact object or a path"
        raise ValidationError(
            f"{what} expects {arg.describe()}: pass {accepted}, got {type(value).__name__}"
        )
    if arg.is_output and not value.path:
        # The caller keeps this object, so its file must outlive the call.
        path = Path(tempfile.mkdtemp(prefix=f"runner-{defn.name}-")) / arg.name
        value.path, value.uri = str(path), value.uri or path.as_uri()
    value.name = value.name or arg.name
    return value
