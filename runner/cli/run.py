"""``runner run PATH[:FUNC]``: compile, submit, follow the run, exit with its outcome.

``runner run NAME@VERSION`` (or ``NAME``: the latest version) runs a
registered pipeline version with its own spec and code package instead
(:mod:`runner.lifecycle.registry`), whatever is on disk now.

Exit status: 0 the run succeeded, 1 it failed or was cancelled, 2 a user
mistake (bad file, parameter, setting, unreachable NATS or store), 130
interrupted (Ctrl-C requests cancellation of the run, waits briefly for it).
With ``--json`` the progress goes to stderr and only the run record to stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from runner.api import RunHandle, request_run, submit
from runner.cli.aio import INTERRUPTED_EXIT, Interrupts, run_async
from runner.cli.errors import user_errors
from runner.cli.options import ALL_FLAGS, settings_of, settings_options
from runner.cli.params import parse_params
from runner.cli.progress import ProgressView, RunProgress, make_view
from runner.cli.runstate import final_state
from runner.cli.stack import (
    describe_stack,
    open_stack,
    shared_stack_url,
    wait_for_private_server,
)
from runner.cli.summary import summary_lines
from runner.config import Settings
from runner.core.state import RunState, RunStatus
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.errors import ConfigError, RunnerError
from runner.events.kinds import TERMINAL_RUN_KINDS, validate_name
from runner.lifecycle.registry import PipelineRegistry
from runner.records import RunRecord
from runner.records.pipelines import PipelineRef, is_pipeline_ref
from runner.spec.models import PipelineSpec
from runner.stack import Stack
from runner.store.factory import open_store

__all__ = ["RunOptions", "Starter", "follow_new_run", "register"]

Starter = Callable[[Stack], Awaitable[RunHandle]]
"""Requests the run on the opened stack and returns its handle."""

CANCEL_GRACE_SECONDS = 15.0
"""How long an interrupted ``runner run`` waits for the run to confirm cancellation."""
CONTROLLER_POLL_SECONDS = 0.5
STUCK_HINT_SECONDS = 15.0
"""After this long with no controller reaction, say what is probably missing."""


@dataclass(frozen=True)
class RunOptions:
    params: dict[str, Any]
    no_cache: bool
    experiment: str
    detach: bool
    json: bool
    plain: bool


@settings_options(*ALL_FLAGS)
def run_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="PATH[:FUNC]",
            help="path/to/pipeline.py, optionally :pipeline_func; or NAME@VERSION, a "
            "registered pipeline version (NAME alone: its latest)",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A pipeline parameter."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step; do not use cached results.")
    ] = False,
    experiment: Annotated[
        str, typer.Option("--experiment", help="Experiment to file the run under.")
    ] = "default",
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Submit, print the run id and return (needs `runner up`)."),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the run record as JSON on stdout.")
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="One line per change, even on a terminal.")
    ] = False,
) -> None:
    """Run a pipeline and show its progress; exit 0 if it succeeded."""
    with user_errors():
        settings = settings_of(ctx)
        spec, starter = _prepare(settings, target)
        options = RunOptions(
            params=parse_params(spec, param or []),
            no_cache=no_cache,
            experiment=validate_name(experiment, "experiment"),
            detach=detach,
            json=json_output,
            plain=plain,
        )
        if detach and shared_stack_url(settings) is None:
            raise ConfigError(
                "--detach needs a controller that outlives this command: start `runner up` "
                "(in another terminal, same --home) or point --nats / NATS_URL at a running "
                "stack, then run again"
            )
        tasks = [t.name for t in spec.tasks]
        code = run_async(follow_new_run(settings, starter(options), tasks, options))
    raise typer.Exit(code)


def _prepare(
    settings: Settings, target: str
) -> tuple[PipelineSpec, Callable[[RunOptions], Starter]]:
    """The spec of ``target`` (to check parameters) and how to start it."""
    if _is_registered(target):
        record, spec = run_async(_registered(settings, target))
        return spec, partial(_start_registered, record)
    loaded = load_pipeline(target)
    return loaded.pipeline.compile(), partial(_start_file, loaded)


def _start_file(loaded: LoadedPipeline, options: RunOptions) -> Starter:
    async def start(stack: Stack) -> RunHandle:
        return await submit(
            loaded.pipeline,
            options.params,
            bus=stack.bus,
            store=stack.store,
            no_cache=options.no_cache,
            experiment=options.experiment,
            source_root=loaded.source_root,
            requested_by="cli",
        )

    return start


def _is_registered(target: str) -> bool:
    """``name@version`` or a bare ``name`` that is no file: a registered pipeline."""
    if not is_pipeline_ref(target):
        return False
    return "@" in target or not Path(target).exists()


async def _registered(settings: Settings, ref: str) -> tuple[PipelineRef, PipelineSpec]:
    store = open_store(settings.store_uri(), settings.storage)
    try:
        registry = PipelineRegistry(store)
        record = await registry.lookup(ref)
        return record, await registry.spec(record)
    finally:
        await store.close()


def _start_registered(record: PipelineRef, options: RunOptions) -> Starter:
    async def start(stack: Stack) -> RunHandle:
        return await request_run(
            bus=stack.bus,
            pipeline=record.name,
            digest=record.digest,
            spec_uri=record.spec_uri,
            code=record.code,
            parameters=options.params,
            no_cache=options.no_cache,
            experiment=options.experiment,
            version=record.version,
            requested_by="cli",
        )

    return start


async def follow_new_run(
    settings: Settings, start: Starter, tasks: list[str], options: RunOptions
) -> int:
    """Start a run with ``start`` on the command's stack and follow it to its end (or,
    with ``--detach``, print its id); returns the exit status."""
    await wait_for_private_server(settings)
    async with open_stack(settings, controller=False if options.detach else None) as stack:
        handle = await start(stack)
        if options.detach:
            _print_detached(handle, options.json)
            return 0
        out = sys.stderr if options.json else sys.stdout
        progress = RunProgress(handle.run_id, tasks)
        view = make_view(progress, out, plain=options.plain)
        view.note(
            f"run {handle.run_id}: pipeline {handle.pipeline}, {len(tasks)} step(s), "
            f"on {describe_stack(stack)}"
        )
        with Interrupts() as interrupts:
            with view:
                state, interrupted = await _follow_or_cancel(handle, view, interrupts, stack)
            if state is not None:
                record = RunRecord.from_state(state, order=tasks)
                outputs = stack.store.uri_for(f"runs/{handle.run_id}")
                print("\n".join(summary_lines(record, outputs)), file=out, flush=True)
                if options.json:
                    print(record.model_dump_json(indent=2), flush=True)
        if interrupted:
            return INTERRUPTED_EXIT
        return 0 if state is not None and state.status is RunStatus.SUCCEEDED else 1


def _print_detached(handle: RunHandle, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"run_id": handle.run_id, "pipeline": handle.pipeline}))
    else:
        typer.echo(handle.run_id)
        typer.echo(
            f"follow it with: runner status {handle.run_id}  |  runner events --follow "
            f"--run {handle.run_id}",
            err=True,
        )


async def _follow_or_cancel(
    handle: RunHandle, view: ProgressView, interrupts: Interrupts, stack: Stack
) -> tuple[RunState | None, bool]:
    """Follow the run to its end; on Ctrl-C request cancellation and wait a little for it."""
    follow = asyncio.create_task(_follow(handle, view), name=f"follow:{handle.run_id}")
    stop = asyncio.create_task(interrupts.wait(), name="wait-for-ctrl-c")
    hint = asyncio.create_task(_hint_if_stuck(view), name="stuck-hint")
    watch = asyncio.create_task(_watch_controller(stack), name="watch-controller")
    try:
        await asyncio.wait({follow, stop, watch}, return_when=asyncio.FIRST_COMPLETED)
        if follow.done():
            return follow.result(), False
        if watch.done():
            watch.result()  # raises why the run cannot go on
        view.note(
            f"interrupted: cancelling run {handle.run_id} (Ctrl-C again to leave it as it is)"
        )
        try:
            await handle.cancel(reason="interrupted in `runner run` (Ctrl-C)", requested_by="cli")
        except RunnerError as exc:
            view.note(f"could not request the cancellation: {exc}")
            return None, True
        done, _ = await asyncio.wait({follow}, timeout=CANCEL_GRACE_SECONDS)
        if not done:
            view.note(
                f"the run did not confirm cancellation within {CANCEL_GRACE_SECONDS:g}s; "
                f"check it with `runner status {handle.run_id}`"
            )
            return None, True
        return follow.result(), True
    finally:
        for task in (follow, stop, hint, watch):
            task.cancel()
        await asyncio.gather(follow, stop, hint, watch, return_exceptions=True)


async def _follow(handle: RunHandle, view: ProgressView) -> RunState:
    events = handle.events()
    try:
        async for event in events:
            view.update(event)
            if event.kind in TERMINAL_RUN_KINDS:
                break
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return await final_state(handle.bus, handle.run_id)


async def _watch_controller(stack: Stack) -> None:
    """Return never while the in-process controller works; raise once it has died."""
    if stack.controller is None:
        await asyncio.Event().wait()  # another process drives the run
    while stack.controller_running:
        await asyncio.sleep(CONTROLLER_POLL_SECONDS)
    raise RunnerError(
        "the in-process controller stopped before the run ended (its error is logged "
        "above); nothing is driving the run any more: run it again (cached steps are "
        "not repeated), or use `runner up` and `runner status`"
    )


async def _hint_if_stuck(view: ProgressView) -> None:
    await asyncio.sleep(STUCK_HINT_SECONDS)
    if view.progress.state == "requested":
        view.note(
            "no controller has picked up the run yet: is `runner up` (or the cluster's "
            "controller) running for this NATS?"
        )


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
