"""Control-flow pipelines the integration tests write into a temporary source tree.

Each step that matters appends a line to ``<log_dir>/<name>`` so tests count
real process executions (as in ``tests/integration/runtime/pipelines.py``).
"""

COMMON = """
import json
import os
import time

from runner import (
    Artifact, Collected, Elif, Else, ExitHandler, If, Input, Model, OneOf, Output,
    ParallelFor, PipelineTaskFinalStatus, component, pipeline,
)


def _note(log_dir: str, name: str) -> None:
    if log_dir:
        with open(os.path.join(log_dir, name), "a") as fh:
            fh.write(str(os.getpid()) + "\\n")
"""

SWEEP = (
    COMMON
    + """

@component
def grid(n: int) -> list:
    return [{"lr": round(0.1 * (i + 1), 1)} for i in range(n)]


@component
def fit(lr: float, log_dir: str, model: Output[Model]) -> float:
    _note(log_dir, "fit")
    with open(model.path, "w") as fh:
        fh.write(f"model lr={lr}")
    model.metadata["lr"] = lr
    return round(1 - abs(lr - 0.2), 3)


@component
def pick(scores: list, models: Input[list[Model]], log_dir: str) -> str:
    _note(log_dir, "pick")
    best = scores.index(max(scores))
    with open(models[best].path) as fh:
        return f"{fh.read()} score={scores[best]} of {len(models)}"


@pipeline(name="sweep")
def sweep(n: int = 3, log_dir: str = ""):
    g = grid(n=n)
    with ParallelFor(g.output, parallelism=2) as item:
        f = fit(lr=item.lr, log_dir=log_dir)
    pick(scores=Collected(f.output), models=Collected(f.outputs["model"]), log_dir=log_dir)
"""
)

GATE = (
    COMMON
    + """

@component
def measure(value: float) -> float:
    return value


@component
def act(what: str) -> str:
    return what


@pipeline(name="gate")
def gate(value: float = 0.95):
    m = measure(value=value)
    with If(m.output >= 0.9):
        a = act(what="deploy")
    with Elif(m.output >= 0.5):
        b = act(what="review")
    with Else():
        c = act(what="discard")
    act(what=OneOf(a.output, b.output, c.output)).set_caching(False)
"""
)

GUARDED = (
    COMMON
    + """

@component
def work(fail: bool, sleep: float, log_dir: str) -> None:
    _note(log_dir, "work")
    time.sleep(sleep)
    if fail:
        raise RuntimeError("work broke")


@component
def report(status: PipelineTaskFinalStatus, log_dir: str, fail: bool) -> str:
    with open(os.path.join(log_dir, "status.json"), "w") as fh:
        json.dump(status.to_json(), fh)
    if fail:
        raise RuntimeError("report broke")
    return status.state


@pipeline(name="guarded")
def guarded(fail: bool = False, sleep: float = 0.0, report_fails: bool = False, log_dir: str = ""):
    r = report(log_dir=log_dir, fail=report_fails)
    with ExitHandler(r):
        w = work(fail=fail, sleep=sleep, log_dir=log_dir)
        work(fail=False, sleep=0.0, log_dir=log_dir).after(w)
"""
)

NESTED = (
    COMMON
    + """

@component
def leaf(x: int, y: int, out: Output[Artifact]) -> int:
    with open(out.path, "w") as fh:
        fh.write(str(x * y))
    return x * y


@component
def total(xs: list) -> int:
    return sum(xs)


@pipeline(name="nested")
def nested():
    with ParallelFor([{"x": 1, "ys": [10, 20]}, {"x": 2, "ys": [30]}]) as row:
        with ParallelFor(row.ys) as y:
            cell = leaf(x=row.x, y=y)
        per_row = total(xs=Collected(cell.output))
    total(xs=Collected(per_row.output))
"""
)
