"""The pipeline the fault suite runs: four chained steps of ``seconds`` each.

Every execution of a step appends two lines to a ledger file that lives
outside the runner home, so a test can count executions whatever the runner
recorded: ``<run> <step> <attempt> <pid> start|end <unix time>``. The run,
step and attempt come from the attempt's folder
(``<home>/executions/<run>/<step>/<attempt>/``): the folder of the step's
``--request`` file, else the working directory the local executor gives it.

No step has a retry policy (``set_retry``), as in most pipelines: an
attempt lost to a crash is relaunched without one (it was not the step's
fault), so every run can succeed after a crash. Steps return 1, 2, 3, 4:
the run's result is 4.
"""

SOURCE = '''
import os
import sys
import time

from runner import component, pipeline


def _attempt_dir():
    """<home>/executions/<run>/<step>/<attempt> of this execution."""
    for argv in (sys.argv, _parent_argv()):
        if "--request" in argv[:-1]:
            return os.path.dirname(os.path.abspath(argv[argv.index("--request") + 1]))
    return os.getcwd()


def _parent_argv():
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            return [a.decode() for a in fh.read().split(b"\\0") if a]
    except OSError:
        return []


def _note(ledger, event):
    parts = _attempt_dir().split(os.sep)
    where = " ".join(parts[-3:]) if len(parts) > 4 and parts[-4] == "executions" else "? ? ?"
    with open(ledger, "a") as fh:  # one short O_APPEND write per line
        fh.write(f"{where} {os.getpid()} {event} {time.time():.3f}\\n")


@component
def s1(ledger: str, tag: str, seconds: float) -> int:
    _note(ledger, "start")
    time.sleep(seconds)
    _note(ledger, "end")
    return 1


@component
def s2(ledger: str, x: int, seconds: float) -> int:
    _note(ledger, "start")
    time.sleep(seconds)
    _note(ledger, "end")
    return x + 1


@component
def s3(ledger: str, x: int, seconds: float) -> int:
    _note(ledger, "start")
    time.sleep(seconds)
    _note(ledger, "end")
    return x + 1


@component
def s4(ledger: str, x: int, seconds: float) -> int:
    _note(ledger, "start")
    time.sleep(seconds)
    _note(ledger, "end")
    return x + 1


@pipeline(name="chaos")
def chaos(ledger: str, tag: str = "0", seconds: float = 1.5):
    a = s1(ledger=ledger, tag=tag, seconds=seconds)
    b = s2(ledger=ledger, x=a.output, seconds=seconds)
    c = s3(ledger=ledger, x=b.output, seconds=seconds)
    s4(ledger=ledger, x=c.output, seconds=seconds)
'''

STEPS = ("s1", "s2", "s3", "s4")
RESULT = 4
"""What the last step returns."""
