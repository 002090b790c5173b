"""A fake cluster behind :class:`FakeApi`: Job controller, scheduler and kubelet.

* Job controller: a created Job gets one pod (``<job>-<5 chars>``, the
  ``batch.kubernetes.io/job-name`` label, an owner reference); the Job's
  status follows its pod (``Complete`` / ``Failed`` ``BackoffLimitExceeded``);
  ``activeDeadlineSeconds`` ends it with ``DeadlineExceeded`` and deletes its pod.
* Scheduler: a pod fits a node when its node selector matches the node's
  labels, its tolerations cover the node's taints and its limits fit the
  node's capacity (``nvidia.com/gpu``); otherwise it stays ``Pending`` with
  ``PodScheduled=False``/``Unschedulable`` and the scheduler's message.
* Kubelet: images listed in ``missing_images`` never pull (``ErrImagePull`` /
  ``ImagePullBackOff``); a missing Secret in ``envFrom`` is
  ``CreateContainerConfigError``. Otherwise the container's command runs as a
  local process (``python`` is this test's interpreter) with only the
  container's environment (``env``, ``envFrom`` Secrets and ConfigMaps), its
  emptyDir mounts and its ``terminationMessagePath`` mapped to host
  directories, output captured as the pod log. A process whose RSS passes
  the memory limit is SIGKILLed and reported ``OOMKilled``. ``evict`` and
  ``lose_node`` simulate an eviction and a lost node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.integration.k8s.fake_api import FakeApi, now_text

NAMESPACE = "runner"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def parse_bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", quantity)
    if match is None:
        raise ValueError(f"unsupported memory quantity {quantity!r}")
    return int(float(match.group(1)) * _UNITS.get(match.group(2) or "", 1))


@dataclass
class Node:
    name: str = "node-1"
    labels: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    """Extended resources, e.g. ``{"nvidia.com/gpu": 1}``."""
    taints: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Pod:
    name: str
    job: str
    task: asyncio.Task[None] | None = None
    pid: int | None = None
    fate: str | None = None  # "evicted" | "lost" | "deleted"


class FakeCluster:
    """A FakeApi served on 127.0.0.1 plus the controllers that make it behave."""

    def __init__(
        self,
        root: Path,
        *,
        nodes: list[Node] | None = None,
        missing_images: frozenset[str] = frozenset(),
        python: str = sys.executable,
    ) -> None:
        self.root = root
        self.nodes = nodes if nodes is not None else [Node()]
        self.missing_images = missing_images
        self.python = python
        self.api = FakeApi()
        self.api.on_change.append(self._changed)
        self.pods: dict[str, _Pod] = {}
        self.started_processes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> str:
        self._runner = web.AppRunner(self.api.app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        for pod in self.pods.values():
            self._kill(pod)
        self.api.drop_watches()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }  # fmt: skip
        path.write_text(json.dumps(config))  # JSON is YAML
        return path

    def add_secret(self, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.api.create("secrets", NAMESPACE, {"metadata": {"name": name}, "data": encoded})

    # -- faults ---------------------------------------------------------------------------

    def evict(self, pod_name: str) -> None:
        self.pods[pod_name].fate = "evicted"
        self._kill(self.pods[pod_name])

    def lose_node(self, pod_name: str) -> None:
        self.pods[pod_name].fate = "lost"
        self._kill(self.pods[pod_name])

    def running_pod(self, job: str) -> str | None:
        for pod in self.api.items("pods", NAMESPACE, f"batch.kubernetes.io/job-name={job}"):
            if (pod.get("status") or {}).get("phase") == "Running":
                return str(pod["metadata"]["name"])
        return None

    # -- the Job controller ---------------------------------------------------------------

    def _changed(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "jobs" and event == "ADDED":
            self._spawn(self._run_job(obj))
        elif kind == "pods" and event == "DELETED" and name in self.pods:
            pod = self.pods[name]
            pod.fate = pod.fate or "deleted"
            self._kill(pod)

    async def _run_job(self, job: dict[str, Any]) -> None:
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        template = job["spec"]["template"]
        pod_name = f"{name[:57]}-{secrets.token_hex(3)[:5]}"
        labels = {
            **template["metadata"].get("labels", {}),
            "batch.kubernetes.io/job-name": name, "job-name": name,
            "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
        }  # fmt: skip
        pod = {
            "metadata": {
                "name": pod_name, "labels": labels,
                "annotations": template["metadata"].get("annotations", {}),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                     "uid": uid, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": json.loads(json.dumps(template["spec"])),
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }  # fmt: skip
        self.pods[pod_name] = record = _Pod(pod_name, name)
        self.api.create("pods", NAMESPACE, pod)
        self.api.update(
            "jobs",
            NAMESPACE,
            name,
            lambda j: j.update(status={"startTime": now_text(), "active": 1}),
        )
        deadline = job["spec"].get("activeDeadlineSeconds")
        record.task = self._spawn(self._run_pod(record))
        if deadline:
            self._spawn(self._deadline(name, float(deadline)))

    async def _deadline(self, job: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        current = self.api.get("jobs", NAMESPACE, job)
        if current is None or _finished(current):
            return
        for pod in self.api.items("pods", NAMESPACE, f"batch.kubernetes.io/job-name={job}"):
            self.api.delete("pods", NAMESPACE, pod["metadata"]["name"])
        self._finish_job(
            job, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
        )

    def _finish_job(self, job: str, outcome: str, reason: str = "", message: str = "") -> None:
        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            if _finished(obj):
                return
            status["active"] = 0
            stamp = now_text()
            cond = {"status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp}
            if outcome == "Complete":
                status.update(succeeded=1, completionTime=stamp)
                status["conditions"] = [
                    {**cond, "type": "SuccessCriteriaMet", "reason": "CompletionsReached"},
                    {**cond, "type": "Complete", "reason": "CompletionsReached"},
                ]
            else:
                status["failed"] = 1
                status["conditions"] = [
                    {**cond, "type": "FailureTarget", "reason": reason, "message": message},
                    {**cond, "type": "Failed", "reason": reason, "message": message},
                ]

        self.api.update("jobs", NAMESPACE, job, change)

    # -- scheduler and kubelet -----------------------------------------------------------

    async def _run_pod(self, record: _Pod) -> None:
        pod = self.api.get("pods", NAMESPACE, record.name)
        assert pod is not None
        node, why = self._schedule(pod)
        stamp = now_text()
        if node is None:
            cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": why, "lastProbeTime": None, "lastTransitionTime": stamp}  # fmt: skip
            self._set_status(record, conditions=[cond])
            return  # pending until deleted
        self.api.update(
            "pods", NAMESPACE, record.name, lambda p: p["spec"].update(nodeName=node.name)
        )
        scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp}
        self._set_status(record, conditions=[scheduled], startTime=stamp)
        container = pod["spec"]["containers"][0]
        if container["image"] in self.missing_images:
            await self._fail_pull(record, container)
            return
        env = self._environment(pod, container)
        if isinstance(env, str):
            self._set_status(
                record,
                containerStatuses=[
                    _cstatus(
                        container,
                        {"waiting": {"reason": "CreateContainerConfigError", "message": env}},
                    )
                ],
            )
            return
        await self._run_container(record, pod, container, env)

    def _schedule(self, pod: dict[str, Any]) -> tuple[Node | None, str]:
        spec = pod["spec"]
        selector = spec.get("nodeSelector") or {}
        limits = (spec["containers"][0].get("resources") or {}).get("limits") or {}
        reasons: list[str] = []
        for node in self.nodes:
            if any(node.labels.get(k) != v for k, v in selector.items()):
                reasons.append("node(s) didn't match Pod's node affinity/selector")
            elif not all(_tolerates(spec.get("tolerations") or [], t) for t in node.taints):
                reasons.append("node(s) had untolerated taint")
            elif any(int(v) > node.capacity.get(k, 0) for k, v in limits.items() if "/" in k):
                missing = next(
                    k for k, v in limits.items() if "/" in k and int(v) > node.capacity.get(k, 0)
                )
                reasons.append(f"Insufficient {missing}")
            else:
                return node, ""
        detail = ", ".join(f"1 {r}" for r in reasons)
        return (
            None,
            f"0/{len(self.nodes)} nodes are available: {detail}. preemption: not helpful "
            "for scheduling.",
        )

    async def _fail_pull(self, record: _Pod, container: dict[str, Any]) -> None:
        image = container["image"]
        message = f'failed to pull and unpack image "{image}": not found'
        reasons = ("ErrImagePull", "ImagePullBackOff")
        for i in range(10_000):  # until the pod is deleted
            waiting = {
                "reason": reasons[i % 2],
                "message": message if i % 2 == 0 else f'Back-off pulling image "{image}"',
            }
            self._set_status(record, containerStatuses=[_cstatus(container, {"waiting": waiting})])
            await asyncio.sleep(0.3)

    def _environment(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str] | str:
        """The container's environment, or why it cannot be built."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        for source in container.get("envFrom") or []:
            for kind, ref in (
                ("secrets", source.get("secretRef")),
                ("configmaps", source.get("configMapRef")),
            ):
                if ref is None:
                    continue
                obj = self.api.get(kind, NAMESPACE, ref["name"])
                if obj is None:
                    return f'{kind[:-1]} "{ref["name"]}" not found'
                for key, value in (obj.get("data") or {}).items():
                    env[key] = base64.b64decode(value).decode() if kind == "secrets" else value
        for item in container.get("env") or []:
            env[item["name"]] = item.get("value", "")
        return env

    async def _run_container(
        self, record: _Pod, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str]
    ) -> None:
        host = self.root / record.name
        mounts = {
            m["mountPath"]: host / "volumes" / m["name"]
            for m in container.get("volumeMounts") or []
        }
        for path in mounts.values():
            path.mkdir(parents=True, exist_ok=True)
        message_path = container.get("terminationMessagePath") or "/dev/termination-log"
        message_file = host / "termination" / Path(message_path).name
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.touch()
        env = {k: _map_path(v, mounts) for k, v in env.items()}
        env["HOME"] = str(host)
        if "RUNNER_STEP_REQUEST" in env:  # the request names the message file's directory
            request = json.loads(base64.b64decode(env["RUNNER_STEP_REQUEST"]))
            if request.get("state_dir") == str(Path(message_path).parent):
                request["state_dir"] = str(message_file.parent)
            env["RUNNER_STEP_REQUEST"] = base64.b64encode(json.dumps(request).encode()).decode()
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        argv[0] = self.python if argv[0] == "python" else argv[0]
        log_path = host / "log.txt"
        self.api.logs[(NAMESPACE, record.name)] = log_path
        cwd = _map_path(container.get("workingDir") or str(host), mounts)
        with log_path.open("ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=log_file,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        record.pid = proc.pid
        self.started_processes += 1
        started = now_text()
        self._set_status(
            record,
            phase="Running",
            containerStatuses=[
                _cstatus(container, {"running": {"startedAt": started}}, ready=True)
            ],
        )
        limit = (container.get("resources") or {}).get("limits", {}).get("memory")
        oom = await self._wait(proc, parse_bytes(limit) if limit else None, record)
        self._exited(
            record, container, proc.returncode or 0, oom, started, message_file.read_text()
        )

    async def _wait(
        self, proc: asyncio.subprocess.Process, limit: int | None, record: _Pod
    ) -> bool:
        """Wait for the process; SIGKILL it (and say so) if its RSS passes ``limit``."""
        try:
            while True:
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=0.05)
                    return False
                except TimeoutError:
                    pass
                if limit is not None and _rss(proc.pid) > limit:
                    self._kill(record)
                    await proc.wait()
                    return True
        except asyncio.CancelledError:
            self._kill(record)
            await proc.wait()
            raise

    def _exited(
        self,
        record: _Pod,
        container: dict[str, Any],
        code: int,
        oom: bool,
        started: str,
        message: str,
    ) -> None:
        if record.fate == "deleted":
            return
        code = 128 + signal.SIGKILL if code < 0 else code
        if record.fate == "lost":
            disruption = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                          "message": "PodGC: node no longer exists",
                          "lastTransitionTime": now_text()}  # fmt: skip
            self._set_status(record, phase="Failed", conditions=[disruption])
        else:
            reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
            terminated = {
                "exitCode": code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": now_text(),
            }
            if message:
                terminated["message"] = message
            phase = "Succeeded" if code == 0 and not record.fate else "Failed"
            state = {"terminated": terminated}
            status: dict[str, Any] = {
                "phase": phase,
                "containerStatuses": [_cstatus(container, state)],
            }
            if record.fate == "evicted":
                status.update(
                    reason="Evicted",
                    message="The node was low on resource: memory.",
                )
            self._set_status(record, **status)
        if code == 0 and record.fate is None:
            self._finish_job(record.job, "Complete")
        else:
            self._finish_job(
                record.job,
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )

    # -- helpers ------------------------------------------------------------------------

    def _set_status(self, record: _Pod, **fields: Any) -> None:
        self.api.update(
            "pods", NAMESPACE, record.name, lambda p: p.setdefault("status", {}).update(fields)
        )

    def _kill(self, record: _Pod) -> None:
        if record.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGKILL)
        if record.task is not None and record.pid is None:
            record.task.cancel()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _finished(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for tol in tolerations:
        if tol.get("effect") not in (None, taint.get("effect")):
            continue
        if tol.get("operator") == "Exists" and tol.get("key") in (None, taint["key"]):
            return True
        if tol.get("key") == taint["key"] and tol.get("value") == taint.get("value"):
            return True
    return False


def _cstatus(
    container: dict[str, Any], state: dict[str, Any], *, ready: bool = False
) -> dict[str, Any]:
    return {"name": container["name"], "image": container["image"], "imageID": "", "ready": ready,
            "restartCount": 0, "started": "running" in state, "state": state}  # fmt: skip


def _map_path(value: str, mounts: dict[str, Path]) -> str:
    for mount, host in mounts.items():
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(host) + value[len(mount.rstrip("/")) :]
    return value


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
