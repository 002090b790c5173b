"""runner: event-driven pipelines for machine-learning workflows.

The authoring API, KFP-style::

    from runner import component, pipeline, Input, Output, Dataset, Model

    @component
    def train(data: Input[Dataset], lr: float, model: Output[Model]) -> float: ...

    @pipeline(name="iris")
    def iris(lr: float = 0.1): ...

    spec = iris.compile()          # or: runner compile pipeline.py -o spec.json

Control flow, as in KFP: ``If``/``Elif``/``Else`` on run-time values,
``ParallelFor`` with ``Collected`` fan-in, ``OneOf``, ``ExitHandler`` with
``PipelineTaskFinalStatus`` (see ``docs/control-flow.md``).

Importing :mod:`runner` loads only the pure authoring layer (no NATS, S3,
Kubernetes or OpenTelemetry clients). See ``docs/authoring.md``.
"""

from runner.dsl import (
    Artifact,
    Collected,
    ComponentDefinition,
    ContainerSpec,
    Dataset,
    Elif,
    Else,
    ExitHandler,
    If,
    Input,
    Metrics,
    Model,
    OneOf,
    Output,
    ParallelFor,
    PipelineDefinition,
    PipelineTask,
    PipelineTaskFinalStatus,
    compile_pipeline,
    component,
    container_component,
    pipeline,
)
from runner.subscribe import subscribe

__all__ = [
    "Artifact",
    "Collected",
    "ComponentDefinition",
    "ContainerSpec",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "Input",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "ParallelFor",
    "PipelineDefinition",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "compile_pipeline",
    "component",
    "container_component",
    "pipeline",
    "subscribe",
]
