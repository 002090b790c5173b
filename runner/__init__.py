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

Importing :mod:`runner` loads only the pure authoring layer (no NATS, S3,
Kubernetes or OpenTelemetry clients). See ``docs/authoring.md``.
"""

from runner import dsl as _dsl
from runner.dsl import *  # noqa: F403  (the authoring API: every name of runner.dsl.__all__)
from runner.subscribe import subscribe

# Running pipelines needs the NATS/S3 clients: load those only when asked for.
_LAZY = {
    "submit": "runner.api",
    "request_run": "runner.api",
    "RunHandle": "runner.api",
    "Stack": "runner.stack",
    "Settings": "runner.config",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["subscribe", *_LAZY]
__all__ += _dsl.__all__
