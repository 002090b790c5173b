"""The step process: fetch code and inputs, call the component, upload, report.

``python -m runner.step --request FILE`` (local executor) or with the request
in ``RUNNER_STEP_REQUEST`` (Kubernetes). It publishes ``step.started`` and
then exactly one of ``step.succeeded`` / ``step.failed`` (with the exception
type, message and the traceback's tail), writes the cache manifest, and exits
0 on success, 1 when the step failed and reported it, 2 when it could not
even report.

The component runs on the process's main thread, so it may install signal
handlers (a SIGTERM handler that saves a checkpoint when the attempt is
stopped); the handlers it installs are undone when it returns. A component
that calls ``sys.exit()`` or is interrupted is reported as failed like one
that raised. The step's own I/O (NATS, the store) runs on an event loop in a
helper thread (:mod:`runner.step.loop`), started after the request is read.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import RunnerError, StepError
from runner.events.models import MAX_INLINE_VALUE_BYTES, ArtifactRef, ErrorInfo
from runner.privacy import write_private
from runner.spec.models import ArtifactKind, IOKind, canonical_json
from runner.step.loop import IoLoop
from runner.step.report import Reporter
from runner.step.request import StepRequest

if TYPE_CHECKING:
    from runner.store.base import ArtifactStore
    from runner.telemetry.step import StepTracing

log = logging.getLogger("runner.step")

TRACEBACK_TAIL_LINES = 25
CODE_CACHE_ENV = "RUNNER_CODE_CACHE"


class _UserCodeFailed(Exception):
    """The component itself raised: carries the ErrorInfo to report."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


def run_step(request: StepRequest) -> int:
    """Run one attempt: the user's code on this (the main) thread, the step's I/O beside it.

    ``step.started`` goes out first, before anything it does not need is
    imported: tracing (and with it the OpenTelemetry SDK), the store, the
    authoring API are loaded after it.
    """
    tracing: StepTracing | None = None
    try:
        with IoLoop() as io:
            reporter = io.call(Reporter.connect(request))
            try:
                started = time.monotonic()
                io.call(reporter.started(host=socket.gethostname(), pid=os.getpid()))
                tracing = _start_tracing(request)
                return _run_reported(request, tracing, io, reporter, started)
            finally:
                io.call(reporter.close())
    finally:
        if tracing is not None:
            tracing.shutdown()  # after the outcome is reported: flushing never delays it


def _start_tracing(request: StepRequest) -> StepTracing:
    from runner.telemetry.step import StepTracing

    return StepTracing.start(
        run_id=request.run_id,
        step=request.step,
        attempt=request.attempt,
        traceparent=request.traceparent,
        tracestate=request.tracestate,
    )


def _run_reported(
    request: StepRequest, tracing: StepTracing, io: IoLoop, reporter: Reporter, started: float
) -> int:
    """Everything after ``step.started``, ending in exactly one outcome report."""
    try:
        outputs, values = _execute(request, tracing, io)
    except _UserCodeFailed as failure:
        io.call(reporter.failed(failure.error, time.monotonic() - started))
        return 1
    except RunnerError as exc:
        error = ErrorInfo(reason="StepError", message=str(exc), type=type(exc).__name__)
        io.call(reporter.failed(error, time.monotonic() - started))
        return 1
    io.call(reporter.succeeded(outputs, values, time.monotonic() - started))
    return 0


def _execute(
    request: StepRequest, tracing: StepTracing, io: IoLoop
) -> tuple[dict[str, ArtifactRef], dict[str, Any]]:
    # Imported once step.started is out: the store is not needed to report it.
    from runner.step.artifacts import download_inputs, upload_outputs

    store = io.call(_open_store(request.store_uri))
    work = Path(tempfile.mkdtemp(prefix="runner-step-", dir=os.environ.get("RUNNER_WORK_DIR")))
    try:
        with tracing.span("fetch inputs", artifacts=len(request.artifacts)):
            if request.code is not None:
                io.call(_activate_code(store, request))
            inputs = io.call(download_inputs(store, work, request.artifacts))
        # The user's code runs right here, on the main thread, inside this span: its spans nest.
        with tracing.span(f"run {request.component.name}", component=request.component.name):
            if request.component.kind == "container":
                metadata: dict[str, dict[str, Any]] = {}
                values: dict[str, Any] = {}
                _run_container(request, work, inputs)
            else:
                values, metadata = _call_python(request, work, inputs)
            _check_inline(request, values)
        with tracing.span("upload outputs"):
            outputs = io.call(upload_outputs(
                store, work, run_id=request.run_id, step=request.step,
                component=request.component, metadata=metadata,
            ))  # fmt: skip
        if request.cache_key:
            with tracing.span("write cache manifest"):
                io.call(_write_manifest(store, request, outputs, values))
        return outputs, values
    finally:
        io.call(store.close())
        shutil.rmtree(work, ignore_errors=True)


async def _open_store(uri: str) -> ArtifactStore:
    from runner.store.factory import open_store

    return open_store(uri)  # on the loop: an async client binds to the loop it starts on


async def _activate_code(store: Any, request: StepRequest) -> None:
    from runner.store.codepkg import fetch_code_package

    assert request.code is not None
    cache = Path(os.environ.get(CODE_CACHE_ENV) or Path(tempfile.gettempdir()) / "runner-code")
    root = await fetch_code_package(store, request.code, cache)
    # The submitted code wins over whatever is installed or on disk now.
    sys.path.insert(0, str(root))


def _load_component(entrypoint: str) -> Any:
    module_name, _, qualname = entrypoint.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise StepError(
            f"cannot import the component entry point {entrypoint!r}: "
            f"{type(exc).__name__}: {exc}; is the module part of the pipeline's source tree?"
        ) from exc
    return obj


def _artifact_objects(
    request: StepRequest, work: Path, inputs: dict[str, Path | list[Path]]
) -> dict[str, Any]:
    from runner.dsl.artifacts import ARTIFACT_CLASSES as classes
    from runner.step.artifacts import output_path

    objects: dict[str, Any] = {}
    for decl in request.component.inputs:
        if decl.kind is IOKind.ARTIFACT and decl.name in request.artifacts:
            ref, path = request.artifacts[decl.name], inputs[decl.name]
            cls = classes[decl.artifact_kind or ArtifactKind.ARTIFACT]
            if isinstance(ref, list) and isinstance(path, list):  # Collected: a list
                objects[decl.name] = [
                    cls(name=decl.name, uri=r.uri, path=str(p), metadata=dict(r.metadata))
                    for r, p in zip(ref, path, strict=True)
                ]
            else:
                assert not isinstance(ref, list)
                objects[decl.name] = cls(
                    name=decl.name, uri=ref.uri, path=str(path), metadata=dict(ref.metadata)
                )
    for out in request.component.outputs:
        if out.kind is IOKind.ARTIFACT:
            path = output_path(work, out.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            cls = classes[out.artifact_kind or ArtifactKind.ARTIFACT]
            objects[out.name] = cls(name=out.name, uri="", path=str(path), metadata={})
    return objects


def _call_python(
    request: StepRequest, work: Path, inputs: dict[str, Path | list[Path]]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    from runner.dsl.invoke import call_component

    assert request.component.entrypoint is not None
    component = request.component.name
    before = set(sys.modules)
    with _signal_handlers_restored():
        try:
            definition = _load_component(request.component.entrypoint)
        except (SystemExit, KeyboardInterrupt) as exc:  # at import: a script's argparse...
            raise _UserCodeFailed(_error_from_exception(exc, component)) from exc
        artifacts = _artifact_objects(request, work, inputs)
        try:
            values = call_component(definition, dict(request.parameters), artifacts)
        except BaseException as exc:  # sys.exit() and Ctrl-C too: the step still reports
            raise _UserCodeFailed(_error_from_exception(exc, component)) from exc
    _record_imports(request, before)
    outputs = {o.name for o in request.component.outputs if o.kind is IOKind.ARTIFACT}
    metadata = {name: dict(artifacts[name].metadata) for name in outputs}
    return values, metadata


IMPORTS_FILE = "imports.json"
"""Local executor: the modules the component imported (at its import and in its body),
written to the attempt's directory; its warm worker preloads them for the next attempts."""
MAX_RECORDED_IMPORTS = 256


def _record_imports(request: StepRequest, before: set[str]) -> None:
    """Write down what the component imported, so that a warm worker can import it once
    for every later attempt: libraries a component imports inside its body (as KFP's
    components must) are then paid once, not on every step. Public modules at most two
    levels deep (``sklearn``, ``sklearn.ensemble``); their own imports come with them."""
    if not request.state_dir:
        return
    names = sorted(
        name
        for name in set(sys.modules) - before
        if name != "__main__"
        and name.count(".") <= 1
        and not any(part.startswith("_") for part in name.split("."))
        and not name.startswith("runner.")
        and name != "runner"
    )[:MAX_RECORDED_IMPORTS]
    with contextlib.suppress(OSError):
        write_private(Path(request.state_dir) / IMPORTS_FILE, json.dumps(names))


@contextmanager
def _signal_handlers_restored() -> Iterator[None]:
    """The handlers a component installs are its own: once it returns, ours are back.

    A SIGTERM while the step uploads outputs ends the process as it did
    before the component ran, instead of calling a handler of code that is done.
    """
    saved = {sig: signal.getsignal(sig) for sig in _CATCHABLE_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(sig, handler)


def _exit_on_sigterm_as_pid_1() -> None:
    """In a container the step is PID 1, and the kernel ignores a signal PID 1 has
    no handler for: a cancelled pod would linger for its whole grace period.
    Give SIGTERM its usual meaning there (exit 128 + 15); a component may still
    install its own handler while it runs."""
    if os.getpid() == 1:
        signal.signal(signal.SIGTERM, lambda _sig, _frame: os._exit(128 + signal.SIGTERM))


_CATCHABLE_SIGNALS = sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})


def _run_container(request: StepRequest, work: Path, inputs: dict[str, Path | list[Path]]) -> None:
    from runner.dsl.invoke import resolve_container_command
    from runner.step.artifacts import output_path

    assert request.component.container is not None
    # A Collected list of artifacts reaches a command as a JSON list of paths / URIs.
    paths: dict[str, Any] = {
        name: [str(p) for p in path] if isinstance(path, list) else str(path)
        for name, path in inputs.items()
    }
    for out in request.component.outputs:
        if out.kind is IOKind.ARTIFACT:
            path = output_path(work, out.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            paths[out.name] = str(path)
    uris: dict[str, Any] = {
        name: [r.uri for r in ref] if isinstance(ref, list) else ref.uri
        for name, ref in request.artifacts.items()
    }
    argv = resolve_container_command(
        request.component.container, dict(request.parameters), paths, uris
    )
    proc = subprocess.run(argv, cwd=work, check=False, env={**os.environ, **request.task.env})
    if proc.returncode != 0:
        raise _UserCodeFailed(
            ErrorInfo(
                reason="ExitCode",
                message=f"container command {argv[0]!r} exited with code {proc.returncode}",
                exit_code=proc.returncode,
            )
        )


def _error_from_exception(exc: BaseException, component: str) -> ErrorInfo:
    lines = traceback.format_exception(exc)
    tail = "\n".join("".join(lines).splitlines()[-TRACEBACK_TAIL_LINES:])[-8000:]
    if isinstance(exc, SystemExit):
        code = exc.code
        return ErrorInfo(
            reason="SystemExit",
            type=type(exc).__name__,
            message=f"component '{component}' called sys.exit({code!r}): a component ends by "
            "returning its outputs or by raising an exception, not by exiting the step process",
            exit_code=code if isinstance(code, int) else None,
            traceback=tail,
        )
    if isinstance(exc, KeyboardInterrupt):
        return ErrorInfo(
            reason="Interrupted",
            type=type(exc).__name__,
            message=f"component '{component}' was interrupted: KeyboardInterrupt "
            "(SIGINT reached the step process)",
            traceback=tail,
        )
    return ErrorInfo(
        reason="Exception",
        type=type(exc).__name__,
        message=str(exc) or type(exc).__name__,
        traceback=tail,
    )


def _check_inline(request: StepRequest, values: dict[str, Any]) -> None:
    for name, value in values.items():
        size = len(canonical_json(value))
        if size > MAX_INLINE_VALUE_BYTES:
            raise StepError(
                f"output '{name}' of step '{request.step}' is {size} bytes of JSON; values ride "
                f"inline in events up to {MAX_INLINE_VALUE_BYTES} bytes: write it to an "
                "Output[Artifact] instead"
            )


async def _write_manifest(
    store: Any, request: StepRequest, outputs: dict[str, ArtifactRef], values: dict[str, Any]
) -> None:
    from runner.store.manifests import CacheManifest, write_manifest

    assert request.cache_key is not None
    manifest = CacheManifest(
        cache_key=request.cache_key,
        outputs=outputs,
        parameters=values,
        producer_run=request.run_id,
        producer_step=request.step,
        component=request.component.name,
        created_at=datetime.now(UTC),
    )
    try:
        await write_manifest(store, manifest)
    except RunnerError:  # a failed cache write costs a recompute later, not this step
        log.warning("could not write the cache manifest for %s", request.step, exc_info=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m runner.step")
    parser.add_argument(
        "--request", type=Path, help="request JSON file (else $RUNNER_STEP_REQUEST)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _exit_on_sigterm_as_pid_1()
    from runner.step.request import REQUEST_ENV

    try:
        if args.request is not None:
            request = StepRequest.read(args.request)
        else:
            request = StepRequest.from_env_value(os.environ[REQUEST_ENV])
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot read the step request: {exc}", file=sys.stderr)
        return 2
    try:
        return run_step(request)
    except RunnerError as exc:
        print(f"error: step {request.step} could not report: {exc}", file=sys.stderr)
        return 2
