"""Synthetic large DAGs for the controller-throughput workload (W4).

The shape, for ``n`` steps and chains of ``chain`` steps::

    root ──┬─ c0-s0 → c0-s1 → … → c0-s{chain-1} ──┐
           ├─ c1-s0 → …                          ├─ join
           └─ …                                   ┘

``root`` fans out to ``(n - 2) / chain`` chains (the last one shorter when
it does not divide); every chain tail feeds ``join`` (a fan-in by
dependency, with no data input). Depth stays ``chain + 2`` whatever ``n``,
so growing ``n`` grows the width: the scheduler sees more ready steps at
once, the same as a wide hyper-parameter sweep. Every step but ``join``
runs the same trivial component as W1 (``inc``: ``x + 1``), bound to its
parent's output.

The spec is built directly from the IR models (no DSL), so it costs
O(n) and needs no source file; its component digests are fixed strings.
"""

from __future__ import annotations

from runner.spec.models import (
    ComponentSpec,
    ConstantInput,
    InputDecl,
    IOKind,
    OutputDecl,
    ParameterType,
    PipelineSpec,
    TaskOutputInput,
    TaskSpec,
)

DEFAULT_CHAIN = 10
"""Steps per chain in the synthetic DAG."""

INC = ComponentSpec(
    name="inc",
    kind="python",
    digest="0" * 64,
    entrypoint="bench.noop:inc",
    inputs=[InputDecl(name="x", kind=IOKind.PARAMETER, parameter_type=ParameterType.INT)],
    outputs=[OutputDecl(name="output", kind=IOKind.PARAMETER, parameter_type=ParameterType.INT)],
    return_outputs=["output"],
)
JOIN = ComponentSpec(
    name="join",
    kind="python",
    digest="1" * 64,
    entrypoint="bench.noop:join",
)


def chain_lengths(steps: int, chain: int = DEFAULT_CHAIN) -> list[int]:
    """Lengths of the chains between ``root`` and ``join`` for ``steps`` steps in all."""
    if steps < 3:
        raise ValueError(
            f"a synthetic DAG needs at least 3 steps (root, one chain step, join), not {steps}"
        )
    if chain < 1:
        raise ValueError(f"chains need at least one step, not {chain}")
    body = steps - 2
    full, rest = divmod(body, chain)
    return [chain] * full + ([rest] if rest else [])


def synthetic_spec(steps: int, chain: int = DEFAULT_CHAIN, name: str = "bench-dag") -> PipelineSpec:
    """A valid :class:`PipelineSpec` of exactly ``steps`` tasks in topological order."""
    tasks = [TaskSpec(name="root", component="inc", inputs={"x": ConstantInput(value=0)})]
    tails: list[str] = []
    for c, length in enumerate(chain_lengths(steps, chain)):
        parent = "root"
        for s in range(length):
            task = f"c{c}-s{s}"
            tasks.append(
                TaskSpec(
                    name=task,
                    component="inc",
                    inputs={"x": TaskOutputInput(task=parent, output="output")},
                    dependencies=[parent],
                )
            )
            parent = task
        tails.append(parent)
    tasks.append(TaskSpec(name="join", component="join", dependencies=sorted(tails)))
    return PipelineSpec(name=name, components={"inc": INC, "join": JOIN}, tasks=tasks)
