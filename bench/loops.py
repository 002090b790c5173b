"""W6: a 1,000-iteration ``ParallelFor`` with ``parallelism=8`` (``python -m bench --only w6``).

The spec, built from the IR models (no DSL), is what this compiles to::

    with ParallelFor(list(range(items)), parallelism=8) as item:
        inc(x=item)                                  # inc[0] … inc[items-1]
    gather(xs=Collected(inc.output))                 # one fan-in after the loop

Iteration ``i`` is the step ``inc[i]``; the scheduler opens it only when a
running iteration ends, so at most 8 are in flight and its cost per event
must stay proportional to the iterations launched — compare the cost per
transition with W4's. Transitions are counted as in W4: ``3 * steps + 3``
with ``steps = items + 1``.

``decide``: the pure scheduler (:func:`bench.decide_driver.drive_decide`),
medians over repetitions; ``controller``: the real controller, nats-server
and the no-op executor (:func:`bench.throughput.controller_throughput`),
one run per worker process.
"""

from __future__ import annotations

import gc
from pathlib import Path

from bench.dag import INC
from bench.decide_driver import drive_decide
from bench.measure import Result, median
from bench.throughput import controller_throughput
from runner.core import StepState, StepStatus
from runner.spec import (
    CollectedInput,
    ComponentSpec,
    ConstantInput,
    InputDecl,
    IOKind,
    LoopItemInput,
    LoopSpec,
    ParameterType,
    PipelineSpec,
    TaskSpec,
)

LOOP_PARALLELISM = 8

GATHER = ComponentSpec(
    name="gather",
    kind="python",
    digest="2" * 64,
    entrypoint="bench.noop:gather",
    inputs=[InputDecl(name="xs", kind=IOKind.PARAMETER, parameter_type=ParameterType.LIST)],
)


def loop_spec(items: int, parallelism: int = LOOP_PARALLELISM) -> PipelineSpec:
    """``items`` iterations of ``inc`` (``parallelism`` at a time), then one fan-in."""
    if items < 1:
        raise ValueError(f"a loop needs at least one item, not {items}")
    loop = LoopSpec(
        name="for-loop-1", items=ConstantInput(value=list(range(items))), parallelism=parallelism
    )
    body = TaskSpec(
        name="inc", component="inc", inputs={"x": LoopItemInput(loop=loop.name)}, loop=loop.name
    )
    gather = TaskSpec(
        name="gather",
        component="gather",
        inputs={"xs": CollectedInput(task="inc", output="output")},
        dependencies=["inc"],
    )
    return PipelineSpec(
        name="bench-loop",
        components={"inc": INC, "gather": GATHER},
        tasks=[body, gather],
        loops=[loop],
    )


def loop_decide(items: int, reps: int) -> Result:
    """``reps`` driven runs of the loop through ``decide``; samples are the time inside it."""
    result = Result(workload="w6-decide", system="runner", extra=shape(items))
    spec = loop_spec(items)
    plans: list[float] = []
    cpu: list[float] = []
    for _ in range(reps):
        gc.collect()
        run = drive_decide(spec)
        check_loop_run(run.status, run.state.steps, items)
        result.samples.append(run.decide_seconds)
        result.extra["transitions"] = run.transitions
        plans.append(run.plan_seconds)
        cpu.append(run.decide_cpu_seconds)
    result.extra["plan_build_seconds"] = median(plans)
    result.extra["cpu_seconds"] = median(cpu)
    result.record_memory()
    return result


def check_loop_run(status: str, steps: dict[str, StepState], items: int) -> None:
    """Raise unless the run succeeded with every iteration and the fan-in done."""
    if status != "succeeded" or len(steps) != items + 1:
        raise RuntimeError(f"the driven loop ended {status} with {len(steps)} steps")
    if steps["gather"].status is not StepStatus.SUCCEEDED:
        raise RuntimeError("the fan-in never ran")


async def loop_controller(items: int, home: Path, timeout: float) -> Result:
    """One run of the loop through the real controller; the sample is its wall time."""
    result = await controller_throughput(
        items + 1, home, timeout, spec=loop_spec(items), workload="w6-controller"
    )
    result.extra.update(shape(items))
    return result


def shape(items: int) -> dict[str, int]:
    return {"items": items, "parallelism": LOOP_PARALLELISM, "steps": items + 1}
