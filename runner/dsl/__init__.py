"""Authoring: ``@component``, ``@container_component``, ``@pipeline``, tasks, artifacts.

Pure and quick to import: nothing here talks to NATS, a store or Kubernetes.
Modules: :mod:`~runner.dsl.artifacts` (artifact types, ``Input``/``Output``),
:mod:`~runner.dsl.component` and :mod:`~runner.dsl.container` (decorators),
:mod:`~runner.dsl.pipeline` and :mod:`~runner.dsl.compiler` (pipelines to
specs), :mod:`~runner.dsl.task` (task settings), :mod:`~runner.dsl.invoke`
(running a component), :mod:`~runner.dsl.loader` (``file.py[:func]``).
"""

from runner.dsl.artifacts import Artifact, Dataset, Input, Metrics, Model, Output
from runner.dsl.component import ComponentDefinition, component
from runner.dsl.container import ContainerSpec, container_component
from runner.dsl.pipeline import PipelineDefinition, compile_pipeline, pipeline
from runner.dsl.task import PipelineTask

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
