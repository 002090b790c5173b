"""W4: controller throughput on synthetic DAGs of 1k to 10k steps.

``decide``: the pure scheduler alone (:mod:`bench.decide_driver`), medians
over repetitions. ``controller``: the real :class:`Controller` with a real
embedded nats-server (JetStream stream, KV run state with compare-and-set,
CloudEvents codec), a file store and the :class:`NoopExecutor`. Both count
transitions — events applied to a run: ``3 * steps + 3`` for a run that
succeeds (each step's launched, started, succeeded; the run's requested and
the echoes of its started and succeeded).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import time
from pathlib import Path

from bench.dag import synthetic_spec
from bench.decide_driver import drive_decide, run_requested
from bench.measure import Result, median, own_cpu_seconds, process_cpu_seconds, vm_hwm_mib
from bench.noop_executor import NoopExecutor
from runner.api import RunHandle
from runner.config import Settings
from runner.controller.controller import Controller
from runner.core import RunState, StepStatus
from runner.records.pipelines import store_spec
from runner.spec.models import PipelineSpec
from runner.stack import Stack


def decide_throughput(steps: int, reps: int) -> Result:
    result = Result(workload="w4-decide", system="runner", extra={"steps": steps})
    started = time.perf_counter()
    spec = synthetic_spec(steps)
    result.extra["spec_build_seconds"] = time.perf_counter() - started
    plans: list[float] = []
    cpu: list[float] = []
    for _ in range(reps):
        gc.collect()
        run = drive_decide(spec)
        if run.status != "succeeded":
            raise RuntimeError(f"the driven run ended {run.status}")
        result.samples.append(run.decide_seconds)
        result.extra["transitions"] = run.transitions
        plans.append(run.plan_seconds)
        cpu.append(run.decide_cpu_seconds)
    result.extra["plan_build_seconds"] = median(plans)
    result.extra["cpu_seconds"] = median(cpu)
    result.record_memory()
    return result


async def controller_throughput(
    steps: int,
    home: Path,
    timeout: float,
    spec: PipelineSpec | None = None,
    workload: str = "w4-controller",
) -> Result:
    """One run of ``steps`` steps (the synthetic DAG, or ``spec``) through the real
    controller; the sample is its wall time.

    On timeout the result has no sample and says how far the run got.
    """
    result = Result(workload=workload, system="runner", extra={"steps": steps})
    spec = spec or synthetic_spec(steps)
    async with Stack(Settings(home=home), controller=False) as stack:
        executor = NoopExecutor(stack.bus.publish)
        controller = Controller(
            bus=stack.bus, store=stack.store, executor=executor, step_nats_url=stack.nats_url
        )
        task = asyncio.create_task(controller.run(), name="bench-controller")
        try:
            await _until_ready(controller, task)
            spec_uri = await store_spec(stack.store, spec)
            run_id = f"{spec.name}-{steps}-{secrets.token_hex(3)}"
            handle = RunHandle(bus=stack.bus, run_id=run_id, pipeline=spec.name)
            nats_pid = stack.embedded.pid if stack.embedded else None
            cpu, nats_cpu = own_cpu_seconds(), process_cpu_seconds(nats_pid)
            started = time.perf_counter()
            await stack.bus.publish(run_requested(spec, run_id, spec_uri=spec_uri))
            try:
                final = await handle.wait(timeout=timeout)
            except TimeoutError:
                result.error = f"over {timeout:.0f} s: {_progress(await handle.state(), steps)}"
            else:
                result.samples.append(time.perf_counter() - started)
                if final.status.value != "succeeded":
                    result.error = f"run ended {final.status.value}: {final.error}"
            stats = controller.stats
            result.extra.update(
                controller_cpu_seconds=own_cpu_seconds() - cpu,
                nats_cpu_seconds=process_cpu_seconds(nats_pid) - nats_cpu,
                transitions=stats.events,
                actions=stats.actions,
                cas_conflicts=stats.conflicts,
                dead_lettered=stats.dead_lettered,
                launched=executor.launched,
                nats_server_peak_mib=vm_hwm_mib(stack.embedded.pid if stack.embedded else None),
            )
        finally:
            controller.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
            except TimeoutError:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await executor.aclose()
    result.record_memory()
    return result


async def _until_ready(controller: Controller, task: asyncio.Task[None]) -> None:
    ready = asyncio.create_task(controller.ready.wait())
    done, _ = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        await asyncio.gather(ready, return_exceptions=True)
        task.result()
        raise RuntimeError("the controller stopped before it was ready")


def _progress(state: RunState | None, steps: int) -> str:
    if state is None:
        return "the controller never recorded the run"
    done = sum(1 for s in state.steps.values() if s.status is StepStatus.SUCCEEDED)
    return f"{done} of {steps} steps done"
