"""Pydantic models of a compiled pipeline.

The spec is everything the controller needs to schedule a run without
importing user code: components (entry point, image, packages, typed
inputs/outputs, digest), tasks (bindings, dependencies, resources, retry,
timeout, env, caching) and pipeline parameters. It is JSON-serialisable, has a
JSON Schema (``PipelineSpec.model_json_schema()``), and its canonical JSON's
sha256 is the pipeline digest.

Models are frozen: a spec is a value, never edited in place.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION: Literal["runner.dev/v1"] = "runner.dev/v1"

JsonValue = Any
"""A JSON value (None, bool, int, float, str, list, dict) — checked by the DSL."""


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` deterministically: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParameterType(StrEnum):
    """JSON types a parameter may have."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    LIST = "list"
    DICT = "dict"
    ANY = "any"


class ArtifactKind(StrEnum):
    """Artifact classes; an input accepts its own kind (and ``Artifact`` accepts all)."""

    ARTIFACT = "Artifact"
    DATASET = "Dataset"
    MODEL = "Model"
    METRICS = "Metrics"


class IOKind(StrEnum):
    PARAMETER = "parameter"
    ARTIFACT = "artifact"


class InputDecl(_Frozen):
    """One input of a component, from its signature."""

    name: str
    kind: IOKind
    parameter_type: ParameterType | None = None
    artifact_kind: ArtifactKind | None = None
    optional: bool = False
    """True when the signature gives a default (then ``default`` holds it)."""
    default: JsonValue = None


class OutputDecl(_Frozen):
    """One output of a component: an ``Output[T]`` argument or a returned value."""

    name: str
    kind: IOKind
    parameter_type: ParameterType | None = None
    artifact_kind: ArtifactKind | None = None


class Placeholder(_Frozen):
    """A container argument filled at run time.

    ``input_value``: the value of a parameter input; ``input_path`` /
    ``output_path``: the local path of an artifact; ``output_metadata``: not
    used yet. ``input_uri`` / ``output_uri``: the artifact's store URI.
    """

    placeholder: Literal["input_value", "input_path", "input_uri", "output_path", "output_uri"]
    name: str


ContainerArg = Annotated[str | Placeholder, Field(union_mode="left_to_right")]


class ContainerCommand(_Frozen):
    """What a container component runs: image, command and args with placeholders."""

    image: str
    command: list[ContainerArg] = Field(default_factory=list)
    args: list[ContainerArg] = Field(default_factory=list)


class ComponentSpec(_Frozen):
    """A reusable unit of work: a Python function or a container command."""

    name: str
    kind: Literal["python", "container"]
    digest: str
    """sha256 of the function source plus referenced same-module helpers, or of
    the container image, command and args."""
    entrypoint: str | None = None
    """``module:qualname`` of the Python function (kind ``python``)."""
    container: ContainerCommand | None = None
    image: str | None = None
    packages: list[str] = Field(default_factory=list)
    cache_version: str | None = None
    inputs: list[InputDecl] = Field(default_factory=list)
    outputs: list[OutputDecl] = Field(default_factory=list)
    return_outputs: list[str] = Field(default_factory=list)
    """Names of the output parameters produced by the return value, in order:
    ``["output"]`` for a plain return, the field names for a NamedTuple."""

    def input(self, name: str) -> InputDecl | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> OutputDecl | None:
        return next((o for o in self.outputs if o.name == name), None)


class ConstantInput(_Frozen):
    kind: Literal["constant"] = "constant"
    value: JsonValue


class PipelineParameterInput(_Frozen):
    kind: Literal["pipeline_parameter"] = "pipeline_parameter"
    parameter: str


class TaskOutputInput(_Frozen):
    kind: Literal["task_output"] = "task_output"
    task: str
    output: str


InputBinding = Annotated[
    ConstantInput | PipelineParameterInput | TaskOutputInput, Field(discriminator="kind")
]


class Resources(_Frozen):
    """Requests for a step; quantities are Kubernetes quantity strings."""

    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0
    accelerator: str | None = None


class RetryPolicy(_Frozen):
    """Controller-side retries: attempt n waits min(backoff*factor**(n-1), max)."""

    max_attempts: int = 1
    backoff_seconds: float = 0.0
    factor: float = 2.0
    max_backoff_seconds: float = 3600.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait before the attempt after ``failed_attempt`` (1-based)."""
        raw = self.backoff_seconds * self.factor ** max(failed_attempt - 1, 0)
        return float(min(raw, self.max_backoff_seconds))


class Toleration(_Frozen):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class KubernetesOptions(_Frozen):
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)


class TaskSpec(_Frozen):
    """One node of the DAG: a component with its inputs bound."""

    name: str
    component: str
    """Key into :attr:`PipelineSpec.components`."""
    inputs: dict[str, InputBinding] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    """Every upstream task (data dependencies and ``.after()``), sorted."""
    resources: Resources = Field(default_factory=Resources)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: float | None = None
    env: dict[str, str] = Field(default_factory=dict)
    caching: bool = True
    image: str | None = None
    """Overrides the component's image (``task.set_image``)."""
    kubernetes: KubernetesOptions = Field(default_factory=KubernetesOptions)
    source: str | None = None
    """``file:line`` where the task was created, for error messages."""


class ParameterDecl(_Frozen):
    name: str
    type: ParameterType
    optional: bool = False
    default: JsonValue = None


class PipelineSpec(_Frozen):
    """A compiled pipeline. ``digest()`` identifies it."""

    spec_version: Literal["runner.dev/v1"] = SPEC_VERSION
    name: str
    description: str | None = None
    parameters: list[ParameterDecl] = Field(default_factory=list)
    components: dict[str, ComponentSpec] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(default_factory=list)
    """Tasks in a topological order (ties broken by creation order)."""

    def canonical_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def digest(self) -> str:
        """sha256 of the canonical JSON: the same source gives the same digest."""
        return sha256_hex(self.canonical_json())

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def parameter(self, name: str) -> ParameterDecl | None:
        return next((p for p in self.parameters if p.name == name), None)
