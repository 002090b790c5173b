"""Kubernetes executor: one batch/v1 Job per step attempt, watched to its end.

``launch`` creates the attempt's Job (:mod:`.kubernetes_manifest`); its name
is deterministic, so a second launch — a redelivered event, a restarted or a
second controller — gets a 409 and adopts the Job instead. Two watches (Jobs
and their pods, by label; :mod:`.kubernetes_watch`) follow every Job of
runner in the namespace, including those created before this executor
started, and report what the step could not (:mod:`.kubernetes_status`):

* a finished Job whose step did not report → ``step.failed`` with the reason
  (``OOMKilled``, ``Timeout``, ``Evicted``, ``NodeLost``, ``ExitCode``...), and
  its pod log is copied to the store like the local executor's;
* a pod stuck pending (``Unschedulable``, image pull, missing Secret) is
  published as ``step.pending`` with the scheduler's message (once per
  reason), kept as :meth:`pending_detail`, and failed — its Job deleted —
  after the configured grace period;
* ``stop`` deletes the Job (and so its pod) and reports ``Cancelled``.

Reports carry the deterministic event id ``<run>/<step>/<attempt>/step.failed``,
so several controllers reporting the same failure publish it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.config import KubernetesSettings
from runner.errors import ExecutorError
from runner.events.auth import ReportKeys
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepFailed, StepPending
from runner.executors.base import LOST_REASON, AttemptInfo, Publish
from runner.executors.kubernetes_client import JobsApi, api_client
from runner.executors.kubernetes_manifest import (
    SELECTOR,
    attempt_of,
    build_job,
    job_name,
)
from runner.executors.kubernetes_status import (
    PULL_ERRORS,
    Pending,
    failure,
    finished,
    pending,
    pending_failure,
    pod_job,
    tail_lines,
)
from runner.executors.kubernetes_watch import ListFn, OnEvent, OnSync, ResourceWatch
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from runner.store.keys import log_key
from runner.tasks import stop_tasks

log = logging.getLogger(__name__)

MISSING_GRACE_SECONDS = 5.0
"""An attempt whose Job is in no list must stay missing this long before it is
reported lost (a Job created a moment ago may not be listed yet)."""


@dataclass
class _Attempt:
    ref: AttemptInfo
    job: str
    done: bool = False
    """Its outcome is known (reported by the step or by us): report nothing more."""
    seen: bool = False
    """The Job has been seen in a list or watch (so its absence later means deleted)."""
    stopping: bool = False
    pending: Pending | None = None
    pending_seen: datetime | None = None


class KubernetesExecutor:
    """Runs attempts as Kubernetes Jobs and reports those that die silently."""

    name = "kubernetes"

    def __init__(
        self,
        *,
        settings: KubernetesSettings,
        publish: Publish,
        store: ArtifactStore | None = None,
        api: Any | None = None,
        sweep_seconds: float = 1.0,
        watch_timeout_seconds: int = 300,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        keys: ReportKeys | None = None,
        missing_grace_seconds: float = MISSING_GRACE_SECONDS,
    ) -> None:
        self.settings = settings
        self.missing_grace_seconds = missing_grace_seconds
        self.keys = keys
        """Derives each attempt's report token (None: steps report unsigned)."""
        self.publish = publish
        self.store = store
        self.sweep_seconds = sweep_seconds
        self.watch_timeout_seconds = watch_timeout_seconds
        self.clock = clock
        self._client = api
        self._owns_client = api is None
        self.api: JobsApi
        self._attempts: dict[str, _Attempt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._start_lock = asyncio.Lock()
        self.watches: list[ResourceWatch] = []
        self.launched = 0
        """Jobs this executor created (a 409 adoption does not count)."""
        self.adopted = 0
        self._missing: dict[str, datetime] = {}
        """Attempts the controller asked about whose Job was in no list, since when."""

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start watching (idempotent; ``launch`` calls it too)."""
        async with self._start_lock:
            if self.watches:
                return
            if self._client is None:
                self._client = await api_client(self.settings)
            self.api = JobsApi(self._client, self.settings.namespace)
            self.watches = [
                self._watch("jobs", self.api.batch.list_namespaced_job, self._jobs_synced,
                            self._on_job),
                self._watch("pods", self.api.core.list_namespaced_pod, self._pods_synced,
                            self._on_pod),
            ]  # fmt: skip
            for watch in self.watches:
                self._spawn(watch.run(), f"k8s-watch:{watch.what}")
            self._spawn(self._sweep(), "k8s-sweep")

    def _watch(
        self, what: str, list_fn: ListFn, on_sync: OnSync, on_event: OnEvent
    ) -> ResourceWatch:
        return ResourceWatch(
            what=what,
            list_fn=list_fn,
            namespace=self.settings.namespace,
            selector=SELECTOR,
            on_sync=on_sync,
            on_event=on_event,
            timeout_seconds=self.watch_timeout_seconds,
        )

    async def wait_synced(self) -> None:
        """Wait until both watches have listed once."""
        await self.start()
        await asyncio.gather(*(w.synced.wait() for w in self.watches))

    async def aclose(self) -> None:
        """Stop watching; Jobs keep running and a later executor adopts them."""
        await stop_tasks(self._tasks)
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    # -- the Executor interface -----------------------------------------------------

    async def launch(self, request: StepRequest) -> str:
        await self.start()
        token = None
        if self.keys is not None:
            token = self.keys.attempt_token(request.run_id, request.step, request.attempt)
        body = build_job(request, self.settings, token)
        name = body["metadata"]["name"]
        ref = attempt_of(body)
        assert ref is not None
        if await self.api.create_job(body):
            self.launched += 1
        else:
            await self._adopt(name, ref)
        self._attempts.setdefault(name, _Attempt(ref=ref, job=name))
        return str(name)

    async def stop(self, attempt: AttemptInfo) -> None:
        await self.start()
        step = attempt.step
        name = attempt.launch_id or job_name(attempt.run_id, step, attempt.attempt)
        current = self._attempts.get(name)
        if current is None:
            job = await self.api.read_job(name)
            ref = attempt_of(job) if job is not None else None
            if ref is None:
                # Never started, or already gone: nothing runs, so the cancel is done.
                await self._report(
                    _Attempt(ref=attempt, job=name, done=True),
                    ErrorInfo(reason="Cancelled",
                              message=f"step '{step}' was cancelled (its Job {name} was gone)"),
                )  # fmt: skip
                return
            current = self._attempts.setdefault(name, _Attempt(ref=ref, job=name))
        current.stopping = True
        await self.api.delete_job(name)
        if not current.done:
            current.done = True
            await self._report(
                current,
                ErrorInfo(
                    reason="Cancelled",
                    message=f"step '{step}' was stopped on request (Job {name} deleted)",
                ),
            )

    async def reconcile(self, attempts: Sequence[AttemptInfo]) -> None:
        """Report attempts whose Job no longer exists (deleted, or expired by its TTL
        while no controller watched) as lost; the watches handle all the others."""
        await self.wait_synced()
        now = self.clock()
        asked = set()
        for info in attempts:
            name = job_name(info.run_id, info.step, info.attempt)
            asked.add(name)
            if name in self._attempts:
                self._missing.pop(name, None)
                continue
            since = self._missing.setdefault(name, now)
            if (now - since).total_seconds() < self.missing_grace_seconds:
                continue
            job = await self.api.read_job(name)
            if job is not None:  # listed late: watch it like any other
                self._missing.pop(name, None)
                await self._on_job("ADDED", job)
                continue
            del self._missing[name]
            current = _Attempt(ref=info, job=name, done=True)
            log.warning("attempt %s: its Job %s is gone and it never reported", info.key, name)
            await self._report(
                current,
                ErrorInfo(
                    reason=LOST_REASON,
                    message=f"step '{info.step}' attempt {info.attempt}: its Job {name} no "
                    "longer exists (deleted, or expired while no controller watched) and the "
                    "step never reported; it is relaunched",
                ),
            )
        for name in set(self._missing) - asked:  # reported meanwhile: forget it
            del self._missing[name]

    def pending_detail(self, run_id: str, step: str, attempt: int) -> Pending | None:
        """Why the attempt's pod is not running yet (e.g. no node has the GPU), if so."""
        current = self._attempts.get(job_name(run_id, step, attempt))
        return current.pending if current is not None and not current.done else None

    # -- watch callbacks --------------------------------------------------------------

    async def _jobs_synced(self, jobs: list[dict[str, Any]]) -> None:
        listed = set()
        for job in jobs:
            listed.add(job["metadata"]["name"])
            await self._on_job("ADDED", job)
        for name, current in list(self._attempts.items()):
            # Deleted while the watch was down (the 410 gap): seen before, absent now.
            if name not in listed and current.seen and not current.done:
                await self._on_job("DELETED", {"metadata": {"name": name}})

    async def _on_job(self, kind: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        current = self._track(name, job)
        if current is None:
            return
        current.seen = True
        if kind == "DELETED":
            self._attempts.pop(name, None)
        if current.done:
            return
        if finished(job) is not None or (kind == "DELETED" and not current.stopping):
            current.done = True
            self._spawn(self._finish(current, job), f"k8s-finish:{name}")

    async def _pods_synced(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            await self._on_pod("ADDED", pod)

    async def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        """Pods only matter while pending: how a Job ends is read when it finishes."""
        name = pod_job(pod)
        if kind == "DELETED" or name is None:
            return
        current = self._attempts.get(name)
        if current is None and (pod.get("status") or {}).get("phase") == "Pending":
            current = self._track(name, pod)
        if current is None or current.done:
            return
        what = pending(pod)
        if what is not None and (
            current.pending is None or _category(current.pending) != _category(what)
        ):
            current.pending_seen = self.clock()
            log.warning(
                "step '%s' (run %s, attempt %d) is pending: %s: %s",
                current.ref.step, current.ref.run_id, current.ref.attempt,
                what.reason, what.message,
            )  # fmt: skip
            await self._report_pending(current, what)
        elif what is not None and what.reason == "ImagePullBackOff" and current.pending:
            # "Back-off pulling image" says less than the pull error before it: keep that.
            what = Pending(what.reason, current.pending.message, what.since)
        current.pending = what

    def _track(self, name: str, obj: dict[str, Any]) -> _Attempt | None:
        current = self._attempts.get(name)
        if current is None:
            ref = attempt_of(obj)
            if ref is None:
                return None
            current = self._attempts[name] = _Attempt(ref=ref, job=name)
        return current

    # -- outcomes -----------------------------------------------------------------------

    async def _finish(self, current: _Attempt, job: dict[str, Any]) -> None:
        """A Job ended (or vanished): copy its log, report if the step did not."""
        pod = await self.api.newest_pod(current.job)
        log_text = await self.api.read_log(pod) if pod is not None else ""
        if log_text:
            await self._upload_log(current.ref, log_text)
        error = failure(current.ref.step, job, pod, tail_lines(log_text))
        if error is not None:
            await self._report(current, error)

    async def _sweep(self) -> None:
        """Fail attempts that stayed pending past their grace period."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            now = self.clock()
            for current in list(self._attempts.values()):
                what = current.pending
                if current.done or what is None:
                    continue
                since = what.since or current.pending_seen or now
                waited = max((now - since).total_seconds(), 0.0)
                if waited >= self._grace(what):
                    current.done = True
                    error = pending_failure(current.ref.step, what, waited)
                    self._spawn(self._give_up(current, error), f"k8s-give-up:{current.job}")

    def _grace(self, what: Pending) -> float:
        if what.unschedulable:
            return self.settings.pending_timeout_seconds
        if what.reason == "InvalidImageName":
            return 0.0  # no retry can fix a malformed name
        return self.settings.image_pull_grace_seconds

    async def _give_up(self, current: _Attempt, error: ErrorInfo) -> None:
        current.stopping = True
        try:
            await self.api.delete_job(current.job)
        except ExecutorError as exc:  # the report matters more; the TTL cleans up later
            log.warning("could not delete Job %s: %s", current.job, exc)
        await self._report(current, error)

    async def _report_pending(self, current: _Attempt, what: Pending) -> None:
        """``step.pending`` once per reason: subscribers see why nothing runs yet."""
        ref = current.ref
        event = ref.event(
            EventKind.STEP_PENDING,
            StepPending(
                attempt=ref.attempt, reason=what.reason, message=what.message, since=what.since
            ),
            id=f"{ref.key}/step.pending/{what.reason}",
            component="executor/kubernetes",
            time=self.clock(),
        )
        try:
            await self.publish(event)
        except Exception:  # informational: the failure report is what must not be lost
            log.warning("could not publish step.pending for Job %s", current.job, exc_info=True)

    async def _report(self, current: _Attempt, error: ErrorInfo) -> None:
        ref = current.ref
        event = ref.event(
            EventKind.STEP_FAILED,
            StepFailed(attempt=ref.attempt, error=error.model_copy(update={"step": ref.step})),
            component="executor/kubernetes",
            time=self.clock(),
        )
        try:
            await self.publish(event)
        except Exception:  # a watch must outlive a bus hiccup; the next list reports again
            log.exception("could not report the failure of Job %s", current.job)
            current.done = False

    async def _adopt(self, name: str, ref: AttemptInfo) -> None:
        existing = await self.api.read_job(name)
        found = attempt_of(existing) if existing is not None else None
        if found is not None and (found.run_id, found.step, found.attempt) != (
            ref.run_id, ref.step, ref.attempt,
        ):  # fmt: skip
            raise ExecutorError(
                f"Job {name} already exists for run {found.run_id} step '{found.step}' attempt "
                f"{found.attempt}, not for step '{ref.step}' of run {ref.run_id}: delete it, "
                "or use another namespace"
            )
        self.adopted += 1

    async def _upload_log(self, ref: AttemptInfo, text: str) -> None:
        if self.store is None:
            return
        try:
            await self.store.put_bytes(
                log_key(ref.run_id, ref.step, ref.attempt), text.encode(), content_type="text/plain"
            )
        except Exception:  # a lost log must not lose the step's outcome
            log.warning("could not upload the log of %s/%s", ref.run_id, ref.step, exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _category(what: Pending) -> str:
    """Pull errors alternate (ErrImagePull, ImagePullBackOff): one clock for both."""
    return "pull" if what.reason in PULL_ERRORS else what.reason
