"""Reading Job and pod status: why an attempt failed without reporting, or waits.

Pure functions over the raw API objects (dicts, as the watch delivers them).
The step writes ``succeeded``/``failed`` to its termination message after
publishing its own outcome (:data:`~runner.executors.kubernetes_manifest.REPORT_PATH`);
anything else that ends a pod is the executor's to report: OOMKilled, an
exit without a report, eviction, a lost node, the Job's deadline. Pods that
cannot start — no node fits (``Unschedulable``), the image cannot be pulled,
a referenced Secret is missing — are *pending*: they fail only after a grace
period, because a cluster autoscaler or a registry hiccup may still fix them.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.events.models import ErrorInfo
from runner.executors.kubernetes_manifest import CONTAINER

REPORTED = frozenset({"succeeded", "failed"})
"""Termination messages the step writes once its own outcome is published."""

PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
START_ERRORS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
"""Container waiting reasons that only a change of the image, Secret or settings fixes."""

LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class Pending:
    """Why an attempt's pod is not running yet, and since when."""

    reason: str
    """``Unschedulable``, ``ErrImagePull``, ``ImagePullBackOff``, ..."""
    message: str
    since: datetime | None
    """When the API says the condition began (None: use when it was first seen)."""

    @property
    def unschedulable(self) -> bool:
        return self.reason == "Unschedulable"


def finished(job: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(type, reason, message)`` of the Job's terminal condition, if it has one."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"], cond.get("reason") or "", cond.get("message") or ""
    return None


def pod_job(pod: dict[str, Any]) -> str | None:
    """The name of the Job a pod belongs to."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")


def terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The step container's terminated state, if it has ended."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            state = status.get("state") or {}
            last = status.get("lastState") or {}
            found = state.get("terminated") or last.get("terminated")
            return dict(found) if found else None
    return None


def reported(pod: dict[str, Any] | None) -> bool:
    """Whether the step published its own outcome (its termination message says so)."""
    term = terminated(pod) if pod is not None else None
    return term is not None and (term.get("message") or "").strip() in REPORTED


def pending(pod: dict[str, Any]) -> Pending | None:
    """Why the pod cannot run yet, when it is stuck rather than merely starting."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return Pending(
                "Unschedulable", cond.get("message") or "", _time(cond.get("lastTransitionTime"))
            )
    for cstatus in status.get("containerStatuses") or []:
        waiting = (cstatus.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason in PULL_ERRORS or reason in START_ERRORS:
            return Pending(reason, waiting.get("message") or reason, None)
    return None


def pending_failure(step: str, what: Pending, waited: float) -> ErrorInfo:
    """The failure of an attempt that stayed pending too long."""
    if what.unschedulable:
        return ErrorInfo(
            reason="Unschedulable",
            message=f"step '{step}' could not be scheduled for {waited:.0f}s: {what.message} "
            "(check the step's resources and accelerator against the cluster's nodes, or "
            "raise RUNNER_K8S_PENDING_TIMEOUT_SECONDS if nodes are being added)",
        )
    hint = (
        "check the image name and the pull secrets (RUNNER_K8S_IMAGE_PULL_SECRETS)"
        if what.reason in PULL_ERRORS
        else "check the Secret and ConfigMap the step's environment refers to"
    )
    return ErrorInfo(
        reason=what.reason,
        message=f"step '{step}' could not start its container for {waited:.0f}s: "
        f"{what.reason}: {what.message}; {hint}",
    )


def failure(
    step: str, job: dict[str, Any] | None, pod: dict[str, Any] | None, log_tail: str = ""
) -> ErrorInfo | None:
    """Why a finished (or vanished) attempt failed without reporting; None if it reported."""
    if reported(pod):
        return None
    cond = finished(job) if job is not None else None
    if cond is not None and cond[1] == "DeadlineExceeded":
        return ErrorInfo(
            reason="Timeout",
            message=f"step '{step}' exceeded its timeout and Kubernetes stopped it "
            f"(DeadlineExceeded: {cond[2]}); raise it with task.set_timeout()",
        )
    if pod is None:
        why = f" ({cond[1]}: {cond[2]})" if cond is not None else ""
        return ErrorInfo(
            reason="Lost",
            message=f"step '{step}': its pod is gone and it never reported{why}",
        )
    return _pod_failure(step, pod, log_tail)


def _pod_failure(step: str, pod: dict[str, Any], log_tail: str) -> ErrorInfo:
    status = pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName") or "?"
    if status.get("reason") == "Evicted":
        return ErrorInfo(
            reason="Evicted",
            message=f"step '{step}' was evicted from node {node}: {status.get('message', '')}",
        )
    disruption = _condition(pod, "DisruptionTarget")
    if status.get("reason") == "NodeLost" or status.get("phase") == "Unknown" or disruption:
        detail = (disruption or {}).get("message") or status.get("message") or "node unreachable"
        return ErrorInfo(
            reason="NodeLost",
            message=f"step '{step}' was lost with node {node}: {detail}",
        )
    term = terminated(pod)
    if term is None:
        return ErrorInfo(
            reason="Lost",
            message=f"step '{step}' ended before its container ran: "
            f"{status.get('reason') or status.get('phase')}: {status.get('message', '')}",
        )
    return _exit_failure(step, term, log_tail)


def _exit_failure(step: str, term: dict[str, Any], log_tail: str) -> ErrorInfo:
    code = int(term.get("exitCode") or 0)
    tail = f"\n--- last lines of its log ---\n{log_tail.rstrip()}" if log_tail.strip() else ""
    if term.get("reason") == "OOMKilled":
        return ErrorInfo(
            reason="OOMKilled",
            message=f"step '{step}' ran out of memory and was killed (OOMKilled); "
            "raise its memory with task.set_resources(memory=...)",
            exit_code=code,
            signal=int(signal.SIGKILL),
        )
    if code == 0:
        return ErrorInfo(
            reason="NotReported",
            message=f"step '{step}' exited 0 without reporting an outcome{tail}",
            exit_code=0,
        )
    if code > 128 and code - 128 in signal.Signals._value2member_map_:
        sig = signal.Signals(code - 128)
        reason = "Killed" if sig is signal.SIGKILL else "Signal"
        return ErrorInfo(
            reason=reason,
            message=f"step '{step}' was killed by {sig.name}{tail}",
            exit_code=code,
            signal=int(sig),
        )
    return ErrorInfo(
        reason="ExitCode",
        message=f"step '{step}' exited with code {code} without reporting{tail}",
        exit_code=code,
    )


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def tail_lines(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])
