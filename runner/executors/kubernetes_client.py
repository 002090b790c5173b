"""Connecting to the Kubernetes API: in-cluster service account or a kubeconfig.

The choice follows :class:`~runner.config.KubernetesSettings`: ``in_cluster``
when set, else in-cluster exactly when ``KUBERNETES_SERVICE_HOST`` is set (as
in every pod). Outside the cluster the kubeconfig is ``settings.kubeconfig``,
else ``$KUBECONFIG`` (a ``:``-separated list is merged), else
``~/.kube/config``. Errors name the file and what to fix.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from runner.config import KubernetesSettings
from runner.errors import ConfigError, ExecutorError, PermanentError, TransientError
from runner.executors.kubernetes_manifest import CONTAINER

log = logging.getLogger(__name__)


class KubernetesApiError(ExecutorError):
    """The Kubernetes API refused or failed a request."""


class TransientKubernetesError(KubernetesApiError, TransientError):
    """The API is unreachable, overloaded or timed out: try again."""


class PermanentKubernetesError(KubernetesApiError, PermanentError):
    """The API rejected the request (forbidden, invalid): fix the settings or RBAC."""


def in_cluster(settings: KubernetesSettings) -> bool:
    if settings.in_cluster is not None:
        return settings.in_cluster
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


async def api_client(settings: KubernetesSettings) -> Any:
    """An ``ApiClient`` configured for the cluster the settings name."""
    configuration = k8s.Configuration()
    if in_cluster(settings):
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException as exc:
            raise ConfigError(
                f"cannot use the in-cluster Kubernetes service account: {exc}; run the "
                "controller in a pod with a service account, or set RUNNER_K8S_IN_CLUSTER=false "
                "and point KUBECONFIG at a kubeconfig"
            ) from exc
        return k8s.ApiClient(configuration=configuration)
    path = str(settings.kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube/config")
    try:
        await k8s_config.load_kube_config(
            config_file=path,
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"cannot load the kubeconfig {path}"
            + (f" (context {settings.context!r})" if settings.context else "")
            + f": {exc}; set KUBECONFIG or RUNNER_K8S_KUBECONFIG to a valid file "
            "(and RUNNER_K8S_CONTEXT to one of its contexts)"
        ) from exc
    return k8s.ApiClient(configuration=configuration)


def api_error(exc: Exception, what: str) -> KubernetesApiError:
    """Wrap a client exception into the project's error tree (raise it ``from exc``)."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = (exc.body or exc.reason or "").strip() if isinstance(exc.body, str) else exc.reason
        message = f"Kubernetes API: {what} failed with HTTP {status}: {detail}"
        if status in (401, 403):
            return PermanentKubernetesError(
                message + "; check the controller's ServiceAccount and Role (k8s/rbac.yaml)"
            )
        if status == 0 or status == 429 or status >= 500:
            return TransientKubernetesError(message)
        return PermanentKubernetesError(message)
    return TransientKubernetesError(
        f"Kubernetes API: {what} failed: {type(exc).__name__}: {exc}; is the API server reachable?"
    )


def is_status(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, ApiException) and int(exc.status or 0) in codes


LOG_LIMIT_BYTES = 16 * 1024 * 1024
REQUEST_TIMEOUT = 30


class JobsApi:
    """The few calls the executor makes, with errors wrapped and objects as dicts."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.client = api
        self.namespace = namespace
        self.batch = k8s.BatchV1Api(api)
        self.core = k8s.CoreV1Api(api)

    async def create_job(self, body: dict[str, Any]) -> bool:
        """Create the Job; False when it already exists (409)."""
        name = body["metadata"]["name"]
        try:
            await self.batch.create_namespaced_job(
                self.namespace, body, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            if is_status(exc, 409):
                return False
            raise api_error(exc, f"create Job {name}") from exc
        return True

    async def read_job(self, name: str) -> dict[str, Any] | None:
        try:
            job = await self.batch.read_namespaced_job(
                name, self.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            if is_status(exc, 404):
                return None
            raise api_error(exc, f"read Job {name}") from exc
        return dict(self.client.sanitize_for_serialization(job))

    async def delete_job(self, name: str) -> None:
        """Delete the Job and (in the background) its pods; a missing Job is fine."""
        try:
            await self.batch.delete_namespaced_job(
                name, self.namespace, propagation_policy="Background",
                _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
        except Exception as exc:
            if not is_status(exc, 404):
                raise api_error(exc, f"delete Job {name}") from exc

    async def newest_pod(self, job: str) -> dict[str, Any] | None:
        """The Job's latest pod, or None (gone, or the API failed: logged)."""
        try:
            pods = await self.core.list_namespaced_pod(
                self.namespace,
                label_selector=f"batch.kubernetes.io/job-name={job}",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except Exception as exc:
            log.warning("%s", api_error(exc, f"list the pods of Job {job}"))
            return None
        items = [self.client.sanitize_for_serialization(p) for p in pods.items]
        items.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return dict(items[-1]) if items else None

    async def read_log(self, pod: dict[str, Any]) -> str:
        """The step container's log ('' when there is none: never started, node gone)."""
        name = pod["metadata"]["name"]
        try:
            text = await self.core.read_namespaced_pod_log(
                name, self.namespace, container=CONTAINER,
                limit_bytes=LOG_LIMIT_BYTES, _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
        except Exception as exc:
            log.info("no log for pod %s: %s", name, api_error(exc, "read the log"))
            return ""
        return str(text or "")
