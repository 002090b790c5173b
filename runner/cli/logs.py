"""``runner logs RUN STEP [--attempt N] [--follow]``: what a step attempt printed.

The local executor writes an attempt's live log to
``<home>/executions/<run>/<step>/<attempt>/log.txt`` and uploads it to the
store (``runs/<run>/<step>/logs/<attempt>.txt``) when the attempt ends. The
live file is read when it is there (this machine ran the step), else the
stored copy. ``--follow`` prints the log as it grows until the attempt ends.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from runner.cli.aio import run_async, until_interrupted
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, settings_of, settings_options
from runner.cli.runstate import load_run
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.core.state import RunState, StepState, StepStatus
from runner.errors import NotFoundError, ObjectNotFoundError
from runner.events.kinds import validate_step_name
from runner.stack import Stack
from runner.store.keys import log_key

__all__ = ["register"]

POLL_SECONDS = 0.2


@settings_options(*READ_FLAGS)
def logs_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    step: Annotated[str, typer.Argument(metavar="STEP", help="Step (task) name.")],
    attempt: Annotated[
        int | None,
        typer.Option("--attempt", min=1, help="Attempt number (default: the latest)."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the attempt ends.")
    ] = False,
) -> None:
    """Print the log (stdout and stderr) of a step attempt."""
    with user_errors():
        settings = settings_of(ctx)
        validate_step_name(step)
        run_async(_logs(settings, run_id, step, attempt, follow))


async def _logs(
    settings: Settings, run_id: str, step: str, attempt: int | None, follow: bool
) -> None:
    async with open_stack(settings, controller=False) as stack:
        state = await load_run(stack.bus, run_id)
        _check_step(state, step)
        if follow:
            await until_interrupted(_follow(stack, run_id, step, attempt))
            return
        number = attempt or latest_attempt(state.steps[step])
        if number == 0:
            status = state.steps[step].status
            wait = "" if status.terminal else "; use --follow to wait for it"
            raise NotFoundError(
                f"step {step!r} of run {run_id} has not run (status {status.value}): "
                f"no log to show{wait}"
            )
        _write(await _read_whole(stack, run_id, step, number))


def latest_attempt(step: StepState) -> int:
    """The last attempt that was launched (0: none); a waiting step counts the next one."""
    return step.attempt - 1 if step.status is StepStatus.WAITING else step.attempt


def _check_step(state: RunState, step: str) -> None:
    if step not in state.steps:
        names = ", ".join(state.steps) or "none"
        raise NotFoundError(f"run {state.run_id} has no step {step!r}; its steps: {names}")


def _live_path(stack: Stack, run_id: str, step: str, attempt: int) -> Path:
    home = stack.settings.home.resolve()
    return home / "executions" / run_id / step / str(attempt) / "log.txt"


async def _read_whole(stack: Stack, run_id: str, step: str, attempt: int) -> bytes:
    live = _live_path(stack, run_id, step, attempt)
    if live.is_file():
        return live.read_bytes()
    key = log_key(run_id, step, attempt)
    try:
        return await stack.store.get_bytes(key)
    except ObjectNotFoundError:
        raise NotFoundError(
            f"no log for attempt {attempt} of step {step!r} in run {run_id}: not at {live} "
            f"nor at {stack.store.uri_for(key)} (it is uploaded when the attempt ends)"
        ) from None


async def _follow(stack: Stack, run_id: str, step: str, attempt: int | None) -> None:
    """Print the attempt's log as it grows; return once the attempt has ended."""
    number = attempt or await _wait_for_attempt(stack, run_id, step)
    if number == 0:
        return  # the step ended without running (skipped, cancelled, cached)
    live = _live_path(stack, run_id, step, number)
    key = log_key(run_id, step, number)
    offset = 0
    while True:
        # The stored copy appears only when the attempt is over, so check it first:
        # whatever the file holds after that is complete.
        ended = await stack.store.exists(key)
        if live.is_file():
            offset = _write_from(live, offset)
        elif ended:
            _write(await stack.store.get_bytes(key))
        if ended or await _attempt_over(stack, run_id, step, number):
            if live.is_file():
                _write_from(live, offset)
            return
        await asyncio.sleep(POLL_SECONDS)


async def _wait_for_attempt(stack: Stack, run_id: str, step: str) -> int:
    """The latest attempt once the step has one; 0 if it ended without running."""
    while True:
        current = (await load_run(stack.bus, run_id)).steps[step]
        if latest_attempt(current) > 0:
            return latest_attempt(current)
        if current.status.terminal:
            return 0
        await asyncio.sleep(POLL_SECONDS)


async def _attempt_over(stack: Stack, run_id: str, step: str, attempt: int) -> bool:
    current = (await load_run(stack.bus, run_id)).steps[step]
    latest = latest_attempt(current)
    return (
        latest > attempt
        or (latest == attempt and current.status.terminal)
        or (current.status is StepStatus.WAITING and latest >= attempt)
    )


def _write_from(path: Path, offset: int) -> int:
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    _write(chunk)
    return offset + len(chunk)


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def register(app: typer.Typer) -> None:
    app.command("logs")(logs_command)
