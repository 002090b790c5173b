"""Pydantic models of a compiled pipeline.

The spec is everything the controller needs to schedule a run without
importing user code: components (entry point, image, packages, typed
inputs/outputs, digest), tasks (bindings, dependencies, resources, retry,
timeout, env, caching), control flow (conditions, loops, exit handlers) and
pipeline parameters. It is JSON-serialisable, has a JSON Schema
(``PipelineSpec.model_json_schema()``), and its canonical JSON's sha256 is the
pipeline digest.

Models are frozen: a spec is a value, never edited in place. Control-flow
fields are *sparse* (:class:`~runner.spec.base.Sparse`): left out of the JSON
while unused, so pipelines without control flow keep their digests.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from runner.spec.base import Frozen as _Frozen
from runner.spec.base import JsonValue as JsonValue
from runner.spec.base import Sparse as _Sparse
from runner.spec.base import canonical_json as canonical_json
from runner.spec.base import sha256_hex as sha256_hex
from runner.spec.bindings import ConstantInput as ConstantInput
from runner.spec.bindings import InputBinding as InputBinding
from runner.spec.bindings import PipelineParameterInput as PipelineParameterInput
from runner.spec.bindings import TaskOutputInput as TaskOutputInput
from runner.spec.bindings import ValueRef as ValueRef
from runner.spec.conditions import Condition as Condition

SPEC_VERSION: Literal["runner.dev/v1"] = "runner.dev/v1"


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


class InputDecl(_Sparse):
    """One input of a component, from its signature."""

    SPARSE: ClassVar[frozenset[str]] = frozenset({"is_list"})

    name: str
    kind: IOKind
    parameter_type: ParameterType | None = None
    artifact_kind: ArtifactKind | None = None
    optional: bool = False
    """True when the signature gives a default (then ``default`` holds it)."""
    default: JsonValue = None
    is_list: bool = False
    """An ``Input[list[Model]]`` artifact: a list of artifacts (``Collected``)."""


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


class ComponentSpec(_Sparse):
    """A reusable unit of work: a Python function or a container command."""

    SPARSE: ClassVar[frozenset[str]] = frozenset({"warm"})

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
    warm: bool = True
    """The local executor may fork its attempts from a warm worker that preloaded
    its module (``@component(warm=False)``: a fresh interpreter each time). Not part
    of the component digest, and left out of the JSON while true."""

    def input(self, name: str) -> InputDecl | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> OutputDecl | None:
        return next((o for o in self.outputs if o.name == name), None)


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


class TaskSpec(_Sparse):
    """One node of the DAG: a component with its inputs bound."""

    SPARSE: ClassVar[frozenset[str]] = frozenset(
        {"loop", "condition", "ignore_upstream_failure", "exit_handler"}
    )

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
    loop: str | None = None
    """The innermost ``ParallelFor`` holding the task: it runs once per iteration."""
    condition: Condition | None = None
    """Run only when this holds (the enclosing ``If``/``Elif``/``Else`` branches,
    within the task's loop); otherwise the step is skipped."""
    ignore_upstream_failure: bool = False
    """Run once every upstream finished, even if some failed or were skipped."""
    exit_handler: bool = False
    """An ``ExitHandler`` task: ``dependencies`` are the tasks it guards; it runs
    after they all finish, whatever happened to them (cancellation included)."""


class LoopSpec(_Sparse):
    """A ``ParallelFor``: its tasks run once per item of ``items``."""

    SPARSE: ClassVar[frozenset[str]] = frozenset({"parallelism", "loop", "condition"})

    name: str
    """Unique among tasks and loops (``for-loop-1``); iteration ``i`` of a task
    ``train`` in it is the step ``train[i]`` (``train[i,j]`` in a nested loop)."""
    items: ValueRef
    """A constant list, a pipeline parameter, a task output or an outer loop's item."""
    parallelism: int | None = Field(default=None, ge=1)
    """At most this many iterations run at once; None: no limit."""
    loop: str | None = None
    """The enclosing loop, for a nested loop."""
    condition: Condition | None = None
    dependencies: list[str] = Field(default_factory=list)
    """Tasks the loop itself reads (its items, its condition), sorted; tasks its
    body reads from outside are found through the body."""
    source: str | None = None


class ParameterDecl(_Frozen):
    name: str
    type: ParameterType
    optional: bool = False
    default: JsonValue = None


class PipelineSpec(_Sparse):
    """A compiled pipeline. ``digest()`` identifies it."""

    SPARSE: ClassVar[frozenset[str]] = frozenset({"loops"})

    spec_version: Literal["runner.dev/v1"] = SPEC_VERSION
    name: str
    description: str | None = None
    parameters: list[ParameterDecl] = Field(default_factory=list)
    components: dict[str, ComponentSpec] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(default_factory=list)
    """Tasks in a topological order (ties broken by creation order)."""
    loops: list[LoopSpec] = Field(default_factory=list)
    """``ParallelFor`` loops, outer ones before the loops nested in them."""

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

    def loop(self, name: str) -> LoopSpec:
        for loop in self.loops:
            if loop.name == name:
                return loop
        raise KeyError(name)

    def parameter(self, name: str) -> ParameterDecl | None:
        return next((p for p in self.parameters if p.name == name), None)
