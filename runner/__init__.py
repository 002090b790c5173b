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

Running them from Python: ``async with runner.Stack() as stack: handle =
await runner.submit(iris, {"lr": 0.05}, bus=stack.bus, store=stack.store)``
then ``await handle.wait()`` (see ``docs/cli.md`` for the command line).

Importing :mod:`runner` loads :func:`subscribe` (and with it the event
models) and nothing else: every other name is loaded on first use (the
authoring layer from :mod:`runner.dsl`, the NATS/S3 clients only for
``submit``/``Stack``). A step process (``python -m runner.step``) imports
packages below :mod:`runner`, which runs this module first: it must not pay
for the library face. See ``docs/authoring.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.api import RunHandle, request_run, submit
    from runner.config import Settings
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
    from runner.stack import Stack

from runner.lazy import lazy_attributes

# ``runner.subscribe`` is both a module and the function it exports: import it
# now so that the attribute is the function whoever imports the module later.
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
    "submit",
    "request_run",
    "RunHandle",
    "Stack",
    "Settings",
]

# Running pipelines needs the NATS/S3 clients; authoring needs none of them.
_RUNNING = {
    "submit": "runner.api",
    "request_run": "runner.api",
    "RunHandle": "runner.api",
    "Stack": "runner.stack",
    "Settings": "runner.config",
}
_LAZY = {name: _RUNNING.get(name, "runner.dsl") for name in __all__ if name != "subscribe"}
"""Every public name but ``subscribe`` -> the module it is loaded from on first use
(the authoring API: each name of ``runner.dsl.__all__``)."""


__getattr__, __dir__ = lazy_attributes("runner", _LAZY, globals())
