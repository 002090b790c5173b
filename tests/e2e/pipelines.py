"""Small pipelines the e2e tests write into their scratch directory (cheap steps only)."""

SMALL = """
import json

from runner import Dataset, Input, Metrics, Output, component, pipeline


@component
def make(n: int, data: Output[Dataset]) -> int:
    print("making", n, "numbers")
    with open(data.path, "w") as fh:
        json.dump(list(range(n)), fh)
    return n


@component
def stats(data: Input[Dataset], metrics: Output[Metrics]) -> float:
    with open(data.path) as fh:
        values = json.load(fh)
    mean = sum(values) / len(values)
    metrics.log_metric("mean", mean)
    print("mean is", mean)
    return mean


@pipeline(name="small")
def small(n: int = 5, label: str = "x", scale: float = 1.0, verbose: bool = False):
    m = make(n=n)
    stats(data=m.outputs["data"])
"""

FAILING = """
from runner import component, pipeline


@component
def ok(n: int) -> int:
    print("ok got", n)
    return n


@component
def boom(x: int) -> int:
    print("about to fail with", x)
    raise ValueError(f"bad value {x}")


@component
def after(x: int) -> int:
    return x


@pipeline(name="failing")
def failing(n: int = 1):
    a = ok(n=n)
    b = boom(x=a.output)
    after(x=b.output)
"""

SLOW = """
import time

from runner import component, pipeline


@component
def nap(seconds: float) -> float:
    print("napping", seconds, flush=True)
    time.sleep(seconds)
    return seconds


@pipeline(name="slow")
def slow(seconds: float = 60.0):
    nap(seconds=seconds)
"""

NO_PIPELINE = """
from runner import component


@component
def lonely(n: int) -> int:
    return n
"""
