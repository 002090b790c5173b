"""Pipeline sources for the runs through the fake cluster (written to a temp tree)."""

FAULTS = """
import os
import time
from pathlib import Path

from runner import component, pipeline


def _started(marks: str, name: str) -> None:
    Path(marks, name).write_text(str(os.getpid()))


def _hold(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


@component
def hog(marks: str) -> None:
    _started(marks, "hog")
    ballast = b"x" * (400 * 2**20)  # touched pages: resident, over the 200Mi limit
    _hold(60)
    print(len(ballast))


@component
def sleeper(marks: str) -> None:
    _started(marks, "sleeper")
    _hold(60)


@component
def victim(marks: str, name: str) -> None:
    _started(marks, name)
    _hold(60)


@component
def crasher(marks: str) -> None:
    _started(marks, "crasher")
    print("crasher-last-words", flush=True)
    os._exit(3)


@component
def fine(marks: str) -> int:
    _started(marks, "fine")
    return 42


@pipeline(name="oom")
def oom(marks: str = ""):
    hog(marks=marks).set_resources(memory="200Mi")


@pipeline(name="deadline")
def deadline(marks: str = ""):
    sleeper(marks=marks).set_timeout("2s")


@pipeline(name="evicted")
def evicted(marks: str = ""):
    victim(marks=marks, name="evicted")


@pipeline(name="lost")
def lost(marks: str = ""):
    victim(marks=marks, name="lost")


@pipeline(name="crash")
def crash(marks: str = ""):
    crasher(marks=marks)


@pipeline(name="fine")
def fine_pipeline(marks: str = ""):
    fine(marks=marks).set_resources(cpu="500m", memory="512Mi")
"""

GATED = """
import time
from pathlib import Path

from runner import component, pipeline


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path}")
        time.sleep(0.05)


@component
def gated(marks: str, name: str) -> str:
    first = not Path(marks, name + "-ran").exists()
    Path(marks, name + "-ran").write_text("")
    Path(marks, name + "-started").write_text("")
    if first:
        _wait_for(Path(marks, name + "-gate"))
    return name


@component
def after(value: str) -> str:
    return value + "!"


@pipeline(name="gated")
def gated_pipeline(marks: str = ""):
    a = gated(marks=marks, name="a")
    gated(marks=marks, name="c").set_retry(max_attempts=2)
    after(value=a.output)
"""
