"""Pipeline sources the runtime tests write into a temporary source tree.

They live as text so a test can edit one component and submit again, the way
a user edits a file between two runs. Each step appends a line to
``<log_dir>/<step>`` so tests count real process executions.
"""

ETL = """
import json
import os

from runner import Artifact, Dataset, Input, Metrics, Output, component, pipeline


def _note(log_dir: str, name: str) -> None:
    if log_dir:
        with open(os.path.join(log_dir, name), "a") as fh:
            fh.write(str(os.getpid()) + "\\n")


@component
def make(n: int, log_dir: str, data: Output[Dataset]) -> int:
    _note(log_dir, "make")
    with open(data.path, "w") as fh:
        json.dump(list(range(n)), fh)
    data.metadata["n"] = n
    return n


@component
def square(data: Input[Dataset], log_dir: str, out: Output[Dataset]) -> None:
    _note(log_dir, "square")
    with open(data.path) as fh:
        values = json.load(fh)
    with open(out.path, "w") as fh:
        json.dump([v * v for v in values], fh)


@component
def total(data: Input[Dataset], log_dir: str) -> int:
    _note(log_dir, "total")
    with open(data.path) as fh:
        return sum(json.load(fh))


@component
def stats(data: Input[Dataset], log_dir: str, metrics: Output[Metrics]) -> None:
    _note(log_dir, "stats")
    with open(data.path) as fh:
        values = json.load(fh)
    metrics.log_metric("mean", sum(values) / len(values))
    metrics.log_metric("max", max(values))


@component
def report(t: int, n: int, log_dir: str, summary: Output[Artifact]) -> str:
    _note(log_dir, "report")
    text = f"sum of squares below {n} is {t}"
    with open(summary.path, "w") as fh:
        fh.write(text)
    return text


@pipeline(name="etl")
def etl(n: int = 10, log_dir: str = ""):
    m = make(n=n, log_dir=log_dir)
    s = square(data=m.outputs["data"], log_dir=log_dir)
    t = total(data=s.outputs["out"], log_dir=log_dir)
    st = stats(data=s.outputs["out"], log_dir=log_dir)
    report(t=t.output, n=m.output, log_dir=log_dir).after(st)
"""

FAULTS = """
import os
import signal
import time

from runner import component, pipeline


def _note(log_dir: str, name: str) -> int:
    path = os.path.join(log_dir, name)
    with open(path, "a") as fh:
        fh.write(str(os.getpid()) + "\\n")
    with open(path) as fh:
        return len(fh.readlines())


@component
def ok(log_dir: str) -> int:
    _note(log_dir, "ok")
    return 1


@component
def boom(log_dir: str, x: int) -> int:
    _note(log_dir, "boom")
    raise RuntimeError("the data is bad: column 'age' has -3")


@component
def after_boom(x: int) -> int:
    return x


@component
def flaky(log_dir: str) -> int:
    calls = _note(log_dir, "flaky")
    if calls < 2:
        raise ConnectionError("transient: try again")
    return calls


@component
def suicide(log_dir: str) -> int:
    _note(log_dir, "suicide")
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@component
def sleepy(log_dir: str, seconds: float) -> float:
    _note(log_dir, "sleepy")
    time.sleep(seconds)
    return seconds


@pipeline(name="failing")
def failing(log_dir: str = ""):
    a = ok(log_dir=log_dir)
    b = boom(log_dir=log_dir, x=a.output)
    after_boom(x=b.output)
    ok(log_dir=log_dir).set_caching(False)


@pipeline(name="retrying")
def retrying(log_dir: str = ""):
    flaky(log_dir=log_dir).set_retry(max_attempts=3, backoff=0.2).set_caching(False)


@pipeline(name="killed")
def killed(log_dir: str = ""):
    suicide(log_dir=log_dir).set_caching(False)


@pipeline(name="slow")
def slow(log_dir: str = "", seconds: float = 30.0):
    s = sleepy(log_dir=log_dir, seconds=seconds).set_caching(False)
    ok(log_dir=log_dir).after(s).set_caching(False)


@pipeline(name="timed")
def timed(log_dir: str = ""):
    sleepy(log_dir=log_dir, seconds=60.0).set_caching(False).set_timeout(5)
"""

CHAIN = """
import os
import time

from runner import component, pipeline


@component
def work(log_dir: str, name: str, seconds: float, x: int) -> int:
    with open(os.path.join(log_dir, name), "a") as fh:
        fh.write(str(os.getpid()) + "\\n")
    time.sleep(seconds)
    return x + 1


@pipeline(name="chain")
def chain(log_dir: str = "", seconds: float = 1.0):
    a = work(log_dir=log_dir, name="a", seconds=seconds, x=0).set_caching(False)
    b = work(log_dir=log_dir, name="b", seconds=seconds, x=a.output).set_caching(False)
    work(log_dir=log_dir, name="c", seconds=0.0, x=b.output).set_caching(False)


@pipeline(name="fan")
def fan(log_dir: str = ""):
    for i in range(8):
        work(log_dir=log_dir, name=f"w{i}", seconds=0.2, x=i).set_caching(False)
"""
