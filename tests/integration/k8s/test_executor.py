"""The executor against the fake API server, without NATS: what it creates,
adopts, deletes and reports for pods that never run the step.

Steps that do run are in ``test_runs.py`` (they need NATS to report).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from runner.config import KubernetesSettings
from runner.errors import ExecutorError
from runner.events.kinds import EventKind
from runner.events.models import StepFailed, StepPending
from runner.executors.base import AttemptInfo
from runner.executors.kubernetes import KubernetesExecutor
from runner.executors.kubernetes_manifest import job_name
from tests.integration.k8s.conftest import Published
from tests.integration.k8s.fake_kubelet import NAMESPACE, FakeCluster
from tests.unit.executors.requests import make_request
from tests.waiting import until

pytestmark = pytest.mark.integration

UNSCHEDULABLE = {"gpu": 4}  # the fake cluster has one GPU


@pytest.fixture
async def executors(
    k8s_settings: KubernetesSettings,
) -> AsyncIterator[Callable[..., Awaitable[tuple[KubernetesExecutor, Published]]]]:
    started: list[KubernetesExecutor] = []

    async def start(**settings: object) -> tuple[KubernetesExecutor, Published]:
        published = Published()
        executor = KubernetesExecutor(
            settings=k8s_settings.model_copy(update=settings),
            publish=published,
            sweep_seconds=0.05,
        )
        started.append(executor)
        await executor.wait_synced()
        return executor, published

    yield start
    for executor in started:
        await executor.aclose()


def failures(published: Published) -> list[StepFailed]:
    found = []
    for event in published.events:
        if event.kind is EventKind.STEP_PENDING:
            continue
        assert event.kind is EventKind.STEP_FAILED
        assert event.source == "/runner/executor/kubernetes"
        assert isinstance(event.data, StepFailed)
        found.append(event.data)
    return found


async def delete_once_pending(
    executor: KubernetesExecutor, cluster: FakeCluster, published: Published, name: str
) -> None:
    """Delete the attempt's Job ``name`` (as someone else would) once the executor
    follows it as pending; wait for the failure report."""
    await until(
        lambda: executor.pending_detail("demo-20250101-120000-abc123", "train", 1),
        "pending",
        timeout=15,
    )
    cluster.api.delete("jobs", NAMESPACE, name)
    await until(lambda: failures(published), "the failure report", timeout=15)


async def test_a_second_launch_adopts_the_job(executors, cluster: FakeCluster) -> None:
    first, _ = await executors()
    second, _ = await executors()
    request = make_request(**UNSCHEDULABLE)
    name = await first.launch(request)
    assert await first.launch(request) == name
    assert await second.launch(request) == name  # another controller, same attempt
    assert name == job_name(request.run_id, request.step, request.attempt)
    assert cluster.api.requests["POST jobs"] == 1
    assert cluster.api.requests["POST jobs 409"] == 2
    assert (first.launched, first.adopted, second.launched, second.adopted) == (1, 1, 0, 1)
    assert len(cluster.api.items("pods", NAMESPACE)) == 1


async def test_a_job_of_another_attempt_under_the_same_name_is_refused(
    executors, cluster: FakeCluster
) -> None:
    executor, _ = await executors()
    request = make_request(**UNSCHEDULABLE)
    name = await executor.launch(request)
    # The same name for a different attempt: only a hand-made Job can do that.
    cluster.api.update(
        "jobs",
        NAMESPACE,
        name,
        lambda j: j["metadata"]["annotations"].update({"runner.io/run": "x"}),
    )
    with pytest.raises(ExecutorError, match="already exists for run x"):
        await executor.launch(request)


async def test_unschedulable_is_pending_then_fails_with_the_schedulers_message(
    executors, cluster: FakeCluster
) -> None:
    executor, published = await executors(pending_timeout_seconds=2.0)
    request = make_request(**UNSCHEDULABLE)
    name = await executor.launch(request)
    await until(
        lambda: executor.pending_detail(request.run_id, request.step, 1) is not None,
        "the pending detail",
        timeout=15,
    )
    detail = executor.pending_detail(request.run_id, request.step, 1)
    assert detail is not None
    assert detail.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in detail.message
    await until(lambda: failures(published), "the failure report", timeout=15)
    [pending] = [e for e in published.events if e.kind is EventKind.STEP_PENDING]
    assert isinstance(pending.data, StepPending)
    assert pending.data.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in pending.data.message
    assert pending.id == f"{request.run_id}/{request.step}/1/step.pending/Unschedulable"
    assert published.events.index(pending) < [e.kind for e in published.events].index(
        EventKind.STEP_FAILED
    )
    [failed] = failures(published)
    assert failed.error.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in failed.error.message
    assert failed.error.step == request.step
    await until(
        lambda: cluster.api.get("jobs", NAMESPACE, name) is None, "the Job's deletion", timeout=15
    )
    assert cluster.api.items("pods", NAMESPACE) == []
    assert cluster.started_processes == 0


@pytest.mark.parametrize(
    ("image", "secret", "reason", "words"),
    [
        ("registry.invalid/nope:1", None, ("ErrImagePull", "ImagePullBackOff"), "not found"),
        (None, "no-such-secret", ("CreateContainerConfigError",), "no-such-secret"),
    ],
)
async def test_a_container_that_cannot_start_fails_after_the_grace_period(
    executors, cluster: FakeCluster, image, secret, reason, words
) -> None:
    if image:
        cluster.missing_images = frozenset({image})
    executor, published = await executors(credentials_secret=secret)
    await executor.launch(make_request(image=image))
    await until(lambda: failures(published), "the failure report", timeout=15)
    [failed] = failures(published)
    assert failed.error.reason in reason
    assert words in failed.error.message
    await until(
        lambda: cluster.api.items("jobs", NAMESPACE) == [], "the Job's deletion", timeout=15
    )
    assert cluster.started_processes == 0


async def test_stop_deletes_the_job_and_reports_cancelled(executors, cluster: FakeCluster) -> None:
    executor, published = await executors(pending_timeout_seconds=600)
    request = make_request(**UNSCHEDULABLE)
    name = await executor.launch(request)
    await executor.stop(AttemptInfo.of(request, launch_id=name))
    assert cluster.api.get("jobs", NAMESPACE, name) is None
    assert cluster.api.items("pods", NAMESPACE) == []
    [failed] = failures(published)
    assert failed.error.reason == "Cancelled"
    # A controller that never launched it can stop it too. An attempt with no Job
    # is reported cancelled at once (nothing runs: the cancel must complete).
    other, other_published = await executors()
    await other.stop(AttemptInfo(run_id=request.run_id, pipeline=request.pipeline,
                                 step="nothing", attempt=1))  # fmt: skip
    [gone] = failures(other_published)
    assert gone.error.reason == "Cancelled"
    assert "was gone" in gone.error.message


async def test_a_job_deleted_by_someone_else_is_reported_lost(
    executors, cluster: FakeCluster
) -> None:
    executor, published = await executors(pending_timeout_seconds=600)
    name = await executor.launch(make_request(**UNSCHEDULABLE))
    await delete_once_pending(executor, cluster, published, name)
    [failed] = failures(published)
    assert failed.error.reason == "Lost"


async def test_reconcile_reports_an_attempt_whose_job_vanished_while_nobody_watched(
    executors, cluster: FakeCluster
) -> None:
    # The Job of attempt 1 ran, finished and expired (TTL) while no controller ran:
    # the new executor never sees it, but the run state says it is running.
    executor, published = await executors(pending_timeout_seconds=600)
    executor.missing_grace_seconds = 0.2
    now = [datetime.now(UTC)]
    executor.clock = lambda: now[0]  # the grace passes when the test says, not by a sleep
    request = make_request(**UNSCHEDULABLE)
    info = AttemptInfo(run_id=request.run_id, pipeline=request.pipeline, step=request.step,
                       attempt=1)  # fmt: skip
    await executor.reconcile([info])
    assert failures(published) == []  # not yet: it may be a Job created a moment ago
    now[0] += timedelta(seconds=0.3)  # past the grace
    await executor.reconcile([info])
    [lost] = failures(published)
    assert lost.error.reason == "Lost"
    assert "no longer exists" in lost.error.message
    # An attempt whose Job exists is the watches' business, never reported by reconcile.
    name = await executor.launch(make_request(**UNSCHEDULABLE, run_id="other-run"))
    alive = AttemptInfo(run_id="other-run", pipeline=request.pipeline, step=request.step,
                        attempt=1)  # fmt: skip
    await executor.reconcile([alive])
    now[0] += timedelta(seconds=0.3)
    await executor.reconcile([alive])
    assert [f.error.reason for f in failures(published)] == ["Lost"]
    assert cluster.api.get("jobs", NAMESPACE, name) is not None


async def test_the_watch_survives_errors_dropped_connections_and_410(
    executors, cluster: FakeCluster
) -> None:
    executor, published = await executors(pending_timeout_seconds=600)
    jobs_watch = executor.watches[0]
    for watch in executor.watches:
        watch.backoff_seconds = 0.01
    cluster.api.fail_next = 3
    cluster.api.compact()  # every version the executor has seen is now too old
    cluster.api.drop_watches()
    await until(lambda: jobs_watch.relists >= 2, "a relist after 410 Gone", timeout=15)
    assert executor.watches[0].errors + executor.watches[1].errors == 3
    # Still watching: a Job created by someone else (another controller) is followed.
    other = KubernetesExecutor(settings=executor.settings, publish=Published())
    try:
        name = await other.launch(make_request(**UNSCHEDULABLE))
    finally:
        await other.aclose()
    await delete_once_pending(executor, cluster, published, name)
    assert failures(published)[0].error.reason == "Lost"
