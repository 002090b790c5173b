"""runner: event-driven pipelines for machine-learning workflows.

The authoring API, KFP-style::

    from runner import component, pipeline, Input, Output, Dataset, Model

    @component
    def train(data: Input[Dataset], lr: float, model: Output[Model]) -> float: ...

    @pipeline(name="iris")
    def iris(lr: float = 0.1): ...

    spec = iris.compile()          # or: runner compile pipeline.py -o spec.json

Importing :mod:`runner` loads only the pure authoring layer (no NATS, S3,
Kubernetes or OpenTelemetry clients). See ``docs/authoring.md``.
"""

from runner.dsl import (
    Artifact,
    ComponentDefinition,
    ContainerSpec,
    Dataset,
    Input,
    Metrics,
    Model,
    Output,
    PipelineDefinition,
    PipelineTask,
    compile_pipeline,
    component,
    container_component,
    pipeline,
)

__all__ = [
    "Artifact",
    "ComponentDefinition",
    "ContainerSpec",
    "Dataset",
    "Input",
    "Metrics",
    "Model",
    "Output",
    "PipelineDefinition",
    "PipelineTask",
    "compile_pipeline",
    "component",
    "container_component",
    "pipeline",
]
