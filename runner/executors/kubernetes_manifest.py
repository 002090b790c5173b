"""Building the batch/v1 Job of a step attempt: pure functions, no API calls.

One Job per (run, step, attempt) with a deterministic name, so a second
create of the same attempt is a 409 the executor turns into adoption. The
pipeline author writes no YAML: images, GPU resource names, node selectors
and tolerations per accelerator, pull secrets and the credentials Secret come
from :class:`~runner.config.KubernetesSettings`; resources, timeout and the
task's own ``set_kubernetes()`` options come from the spec.

Credentials never appear in a Job: the step gets them through ``envFrom`` on
the configured Secret (``RUNNER_NATS_USER`` / ``RUNNER_NATS_PASSWORD`` or
``RUNNER_NATS_TOKEN``, ``AWS_*``). The step request travels base64-encoded in
``RUNNER_STEP_REQUEST`` (references only, never secrets); the NATS URL in it
and in ``NATS_URL`` has no user-info, even if the controller's has.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from runner.config import KubernetesSettings
from runner.errors import ExecutorError
from runner.events.auth import TOKEN_ENV
from runner.executors.base import AttemptInfo
from runner.privacy import redact_url
from runner.spec.models import Toleration
from runner.step.request import REQUEST_ENV, StepRequest

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "runner"
SELECTOR = f"{MANAGED_BY}={MANAGED_BY_VALUE}"
"""Label selector matching every Job (and pod) this executor creates."""
LABEL_RUN = "runner.io/run"
LABEL_STEP = "runner.io/step"
LABEL_ATTEMPT = "runner.io/attempt"
ANNOTATION_PREFIX = "runner.io/"
"""Annotations carry the exact names (labels must be sanitised) and the trace
context, so a restarted executor can report on a Job it did not create."""

CONTAINER = "step"
REPORT_DIR = "/run/runner"
"""The request's ``state_dir`` in the pod: the step writes ``reported`` there,
which is the container's ``terminationMessagePath`` — so the outcome marker
survives in the pod status without any volume or API access."""
REPORT_PATH = f"{REPORT_DIR}/reported"
WORK_DIR = "/tmp"
"""An emptyDir in the pod: scratch space for inputs, outputs and the code cache."""
PACKAGES_VOLUME = "packages-cache"
"""uv's cache in a pod that installs ``packages``: the configured PVC, or an emptyDir."""
STEP_COMMAND = ["python", "-m", "runner.step"]
PACKAGES_COMMAND = ["python", "-m", "runner.executors.kubernetes_pod"]
"""A component with ``packages``: install them (or see the image has them), then exec the step."""

MAX_NAME = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def job_name(run_id: str, step: str, attempt: int) -> str:
    """The attempt's Job name: a DNS-1123 label of at most 63 characters.

    ``<run>-<step>-<attempt>`` when that is already a valid, short enough
    name; otherwise (an iteration like ``train[3]``, or too long) a readable
    prefix plus a hash of the exact triple, so distinct attempts never share
    a name.
    """
    plain = f"{run_id}-{step}-{attempt}"
    if len(plain) <= MAX_NAME and _DNS_LABEL.match(plain):
        return plain
    digest = hashlib.sha256(f"{run_id}\0{step}\0{attempt}".encode()).hexdigest()[:10]
    suffix = f"-{attempt}-{digest}"
    slug = re.sub(r"[^a-z0-9-]+", "-", f"{run_id}-{step}".lower())
    head = re.sub(r"-+", "-", slug)[: MAX_NAME - len(suffix)].strip("-") or "step"
    return head + suffix


def label_value(value: str) -> str:
    """``value`` if it is a valid label value, else a sanitised one with a hash."""
    if len(value) <= MAX_NAME and _LABEL_VALUE.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    head = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[: MAX_NAME - 9].strip("-_.")
    return f"{head}-{digest}" if head else digest


def attempt_of(obj: dict[str, Any]) -> AttemptInfo | None:
    """The attempt a Job or pod (raw API dict) belongs to, or None if not ours."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return AttemptInfo(
            run_id=annotations[ANNOTATION_PREFIX + "run"],
            pipeline=annotations[ANNOTATION_PREFIX + "pipeline"],
            step=annotations[ANNOTATION_PREFIX + "step"],
            attempt=int(annotations[ANNOTATION_PREFIX + "attempt"]),
            traceparent=annotations.get(ANNOTATION_PREFIX + "traceparent"),
            tracestate=annotations.get(ANNOTATION_PREFIX + "tracestate"),
        )
    except (KeyError, ValueError):
        return None


def build_job(
    request: StepRequest, settings: KubernetesSettings, token: str | None = None
) -> dict[str, Any]:
    """The Job manifest (a plain dict, as the API takes it) for one attempt.

    ``token``: the attempt's report token (``RUNNER_ATTEMPT_TOKEN``), which only
    vouches for this attempt's own reports."""
    name = job_name(request.run_id, request.step, request.attempt)
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        LABEL_RUN: label_value(request.run_id),
        LABEL_STEP: label_value(request.step),
        LABEL_ATTEMPT: str(request.attempt),
    }
    annotations = {
        ANNOTATION_PREFIX + "run": request.run_id,
        ANNOTATION_PREFIX + "pipeline": request.pipeline,
        ANNOTATION_PREFIX + "step": request.step,
        ANNOTATION_PREFIX + "attempt": str(request.attempt),
    }
    if request.traceparent:
        annotations[ANNOTATION_PREFIX + "traceparent"] = request.traceparent
    if request.tracestate:
        annotations[ANNOTATION_PREFIX + "tracestate"] = request.tracestate
    spec: dict[str, Any] = {
        "backoffLimit": 0,  # retries are the controller's, with its backoff
        "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
        "template": {
            "metadata": {"labels": labels, "annotations": annotations},
            "spec": _pod_spec(request, settings, token),
        },
    }
    if request.task.timeout_seconds:
        spec["activeDeadlineSeconds"] = max(1, math.ceil(request.task.timeout_seconds))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def image_of(request: StepRequest, settings: KubernetesSettings) -> str:
    """Task override > container image > component image > the runner image."""
    component = request.component
    container_image = component.container.image if component.container else None
    return request.task.image or container_image or component.image or settings.image


def _pod_spec(
    request: StepRequest, settings: KubernetesSettings, token: str | None
) -> dict[str, Any]:
    node_selector, tolerations = _placement(request, settings)
    volumes: list[dict[str, Any]] = [{"name": "work", "emptyDir": {}}]
    if installs_packages(request):
        pvc = settings.packages_cache_pvc
        source = {"persistentVolumeClaim": {"claimName": pvc}} if pvc else {"emptyDir": {}}
        volumes.append({"name": PACKAGES_VOLUME, **source})
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # steps never call the Kubernetes API
        "containers": [_container(request, settings, token)],
        "volumes": volumes,
    }
    if settings.service_account:
        pod["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    if node_selector:
        pod["nodeSelector"] = node_selector
    if tolerations:
        pod["tolerations"] = tolerations
    return pod


def installs_packages(request: StepRequest) -> bool:
    """Whether the attempt's pod installs the component's ``packages`` first."""
    return bool(request.component.packages) and request.component.kind == "python"


def _container(
    request: StepRequest, settings: KubernetesSettings, token: str | None
) -> dict[str, Any]:
    packages = installs_packages(request)
    env = _env(request, token)
    mounts = [{"name": "work", "mountPath": WORK_DIR}]
    if packages and all(item["name"] != "UV_CACHE_DIR" for item in env):  # the task's own wins
        env.append({"name": "UV_CACHE_DIR", "value": settings.packages_cache_dir})
    if packages:
        mounts.append({"name": PACKAGES_VOLUME, "mountPath": settings.packages_cache_dir})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image_of(request, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(PACKAGES_COMMAND if packages else STEP_COMMAND),
        "env": env,
        "resources": _resources(request, settings),
        "terminationMessagePath": REPORT_PATH,
        "terminationMessagePolicy": "File",
        "workingDir": WORK_DIR,
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    env_from = []
    if settings.config_map:
        env_from.append({"configMapRef": {"name": settings.config_map}})
    if settings.credentials_secret:
        env_from.append({"secretRef": {"name": settings.credentials_secret}})
    if env_from:
        container["envFrom"] = env_from
    return container


def _env(request: StepRequest, token: str | None) -> list[dict[str, str]]:
    """Non-secret env: the task's own, the controller's step settings, then ours
    (the attempt token vouches for this attempt's reports only)."""
    values: dict[str, str] = {}
    values.update(request.task.env)
    values.update(request.env)
    values["PYTHONUNBUFFERED"] = "1"
    values["RUNNER_STORE"] = request.store_uri
    values["RUNNER_WORK_DIR"] = WORK_DIR
    # A Job spec is readable by whoever may list Jobs: no user-info in the URL
    # (StepRequest strips it; model_copy would not re-check, hence here again).
    nats_url = redact_url(request.nats_url) if request.nats_url else None
    if nats_url:
        values["NATS_URL"] = nats_url
    if request.traceparent:
        values["TRACEPARENT"] = request.traceparent
    if request.tracestate:
        values["TRACESTATE"] = request.tracestate
    pod_request = request.model_copy(update={"state_dir": REPORT_DIR, "nats_url": nats_url})
    values[REQUEST_ENV] = pod_request.to_env_value()
    if token is not None:
        values[TOKEN_ENV] = token
    return [{"name": k, "value": v} for k, v in values.items()]


def _resources(request: StepRequest, settings: KubernetesSettings) -> dict[str, Any]:
    res = request.task.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cpu:
        requests["cpu"] = limits["cpu"] = res.cpu
    elif settings.default_cpu:
        requests["cpu"] = settings.default_cpu
    if res.memory:
        # Equal request and limit: a step over it is OOMKilled, never overcommitted.
        requests["memory"] = limits["memory"] = res.memory
    elif settings.default_memory:
        requests["memory"] = settings.default_memory
    if res.gpu:
        # Extended resources are limits only (the request defaults to the limit).
        limits[settings.gpu_resource_name] = str(res.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _placement(
    request: StepRequest, settings: KubernetesSettings
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Node selector and tolerations: accelerator settings, then the task's own."""
    res = request.task.resources
    selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    if res.gpu:
        tolerations.extend(settings.gpu_tolerations)
    if res.accelerator:
        known = settings.accelerator_node_selectors.get(res.accelerator)
        if known is not None:
            selector.update(known)
        elif settings.accelerator_label:
            selector[settings.accelerator_label] = res.accelerator
        else:
            raise ExecutorError(
                f"step '{request.step}' asks for accelerator '{res.accelerator}' but the "
                "cluster settings do not say which nodes have it: add it to "
                "RUNNER_K8S_ACCELERATOR_NODE_SELECTORS (or set RUNNER_K8S_ACCELERATOR_LABEL)"
            )
        tolerations.extend(settings.accelerator_tolerations.get(res.accelerator, []))
    selector.update(request.task.kubernetes.node_selector)
    tolerations.extend(request.task.kubernetes.tolerations)
    unique: list[dict[str, str]] = []
    for toleration in tolerations:
        item = toleration.model_dump(exclude_none=True)
        if item not in unique:
            unique.append(item)
    return selector, unique
