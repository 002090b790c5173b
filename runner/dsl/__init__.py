"""Authoring: ``@component``, ``@container_component``, ``@pipeline``, tasks, artifacts.

Pure and quick to import: nothing here talks to NATS, a store or Kubernetes.
Modules: :mod:`~runner.dsl.artifacts` (artifact types, ``Input``/``Output``),
:mod:`~runner.dsl.component` and :mod:`~runner.dsl.container` (decorators),
:mod:`~runner.dsl.pipeline` and :mod:`~runner.dsl.compiler` (pipelines to
specs), :mod:`~runner.dsl.task` (task settings), :mod:`~runner.dsl.invoke`
(running a component), :mod:`~runner.dsl.loader` (``file.py[:func]``), and
control flow: :mod:`~runner.dsl.groups` (``If``/``Elif``/``Else``,
``ExitHandler``), :mod:`~runner.dsl.loops` (``ParallelFor``),
:mod:`~runner.dsl.fanin` (``Collected``, ``OneOf``),
:mod:`~runner.dsl.conditions` and :mod:`~runner.dsl.status`.
"""

from runner.dsl.artifacts import Artifact, Dataset, Input, Metrics, Model, Output
from runner.dsl.component import ComponentDefinition, component
from runner.dsl.container import ContainerSpec, container_component
from runner.dsl.fanin import Collected, OneOf
from runner.dsl.groups import Elif, Else, ExitHandler, If
from runner.dsl.loops import ParallelFor
from runner.dsl.pipeline import PipelineDefinition, compile_pipeline, pipeline
from runner.dsl.status import PipelineTaskFinalStatus
from runner.dsl.task import PipelineTask

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
]
