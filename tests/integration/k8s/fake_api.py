"""An in-test Kubernetes API server (aiohttp) for what the executor uses.

It follows the real API's wire behaviour for Jobs, Pods, Secrets and
ConfigMaps in namespaces: create (409 ``AlreadyExists``), get (404), list
with a ``resourceVersion``, watch from a ``resourceVersion`` (replaying what
happened since, ``ERROR`` 410 ``Expired`` once the history is compacted),
``timeoutSeconds``, equality/existence label selectors, delete with
propagation, and pod logs. Status bodies are ``kind: Status`` objects.

Behaviour lives in :mod:`fake_kubelet` (Job controller, scheduler, kubelet);
this module is storage and HTTP. Fault knobs for tests: :meth:`FakeApi.compact`
(the next re-watch gets 410), :meth:`FakeApi.drop_watches` (connections end),
``fail_next`` (the next N watch/list requests answer 500).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

Kind = str  # "jobs" | "pods" | "secrets" | "configmaps"
KINDS: dict[Kind, tuple[str, str]] = {
    "jobs": ("batch/v1", "Job"),
    "pods": ("v1", "Pod"),
    "secrets": ("v1", "Secret"),
    "configmaps": ("v1", "ConfigMap"),
}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    }  # fmt: skip


def matches(selector: str | None, labels: dict[str, str]) -> bool:
    """Equality and existence selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif " in " in term or " notin " in term:
            raise ValueError(f"set-based selector {term!r} is not supported by the fake")
        elif term not in labels:
            return False
    return True


@dataclass
class _Watcher:
    kind: Kind
    namespace: str
    selector: str | None
    queue: asyncio.Queue[dict[str, Any] | None]


class FakeApi:
    """Objects, resource versions, history and watchers; the HTTP routes over them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[Kind, str, str], dict[str, Any]] = {}
        self.rv = 1000  # a real server never lists at version 0 ("any version")
        self.history: list[tuple[int, Kind, str, dict[str, Any]]] = []
        self.compacted = 0
        self.watchers: list[_Watcher] = []
        self.requests: Counter[str] = Counter()
        """``"POST jobs"``, ``"POST jobs 409"``, ``"WATCH pods"``... counted."""
        self.fail_next = 0
        self.on_change: list[Callable[[Kind, str, dict[str, Any]], None]] = []
        self.logs: dict[tuple[str, str], Path] = {}
        """(namespace, pod) -> its log file (written by the kubelet)."""

    # -- storage ----------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def items(
        self, kind: Kind, namespace: str, selector: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind and ns == namespace and matches(selector, o["metadata"].get("labels", {}))
        ]

    def create(self, kind: Kind, namespace: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store a new object (None when the name is taken)."""
        name = obj["metadata"]["name"]
        if (kind, namespace, name) in self.objects:
            return None
        api_version, kind_name = KINDS[kind]
        obj = copy.deepcopy(obj)
        obj.update(apiVersion=api_version, kind=kind_name)
        meta = obj["metadata"]
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_text())
        meta.setdefault("labels", {})
        self.objects[(kind, namespace, name)] = obj
        self._changed(kind, "ADDED", obj)
        return copy.deepcopy(obj)

    def update(
        self, kind: Kind, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            return
        change(obj)
        self._changed(kind, "MODIFIED", obj)

    def delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.pop((kind, namespace, name), None)
        if obj is not None:
            self._changed(kind, "DELETED", obj)
        return obj

    def _changed(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        snapshot = copy.deepcopy(obj)
        self.history.append((self.rv, kind, event, snapshot))
        ns = obj["metadata"]["namespace"]
        for watcher in self.watchers:
            if (
                watcher.kind == kind
                and watcher.namespace == ns
                and matches(watcher.selector, snapshot["metadata"].get("labels", {}))
            ):
                watcher.queue.put_nowait({"type": event, "object": snapshot})
        for hook in self.on_change:
            hook(kind, event, snapshot)

    # -- fault knobs ------------------------------------------------------------------

    def compact(self) -> None:
        """Other objects change, then the history is forgotten: a watch from any
        version seen so far gets 410 Gone."""
        self.create("configmaps", "elsewhere", {"metadata": {"name": f"noise-{self.rv}"}})
        self.compacted = self.rv
        self.history.clear()

    def drop_watches(self) -> None:
        """End every open watch stream, as a restarted API server would."""
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)

    # -- HTTP -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("/apis/batch/v1", "/api/v1"):
            base = prefix + "/namespaces/{ns}/{kind}"
            app.router.add_post(base, self._create)
            app.router.add_get(base, self._list_or_watch)
            app.router.add_get(base + "/{name}", self._read)
            app.router.add_delete(base + "/{name}", self._delete)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self._log)
        return app

    @staticmethod
    def _kind(request: web.Request) -> Kind:
        kind = request.match_info["kind"]
        group = "batch" if request.path.startswith("/apis/batch/") else ""
        if kind not in KINDS or (kind == "jobs") != (group == "batch"):
            raise web.HTTPNotFound(
                text=json.dumps(status_body(404, "NotFound", "no such resource")),
                content_type="application/json",
            )
        return kind

    async def _create(self, request: web.Request) -> web.Response:
        kind, ns = self._kind(request), request.match_info["ns"]
        body = await request.json()
        created = self.create(kind, ns, body)
        if created is None:
            self.requests[f"POST {kind} 409"] += 1
            name = body["metadata"]["name"]
            return web.json_response(
                status_body(
                    409, "AlreadyExists", f'{kind} "{name}" already exists', name=name, kind=kind
                ),
                status=409,
            )
        self.requests[f"POST {kind}"] += 1
        return web.json_response(created, status=201)

    async def _read(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        obj = self.get(kind, ns, name)
        if obj is None:
            return web.json_response(
                status_body(404, "NotFound", f'{kind} "{name}" not found'), status=404
            )
        return web.json_response(obj)

    async def _delete(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        options = await request.json() if request.can_read_body else {}
        policy = options.get("propagationPolicy") or request.query.get("propagationPolicy")
        self.requests[f"DELETE {kind}"] += 1
        obj = self.delete(kind, ns, name)
        if obj is None:
            return web.json_response(
                status_body(404, "NotFound", f'{kind} "{name}" not found'), status=404
            )
        if kind == "jobs" and policy in ("Background", "Foreground"):
            for pod in self.items("pods", ns, f"batch.kubernetes.io/job-name={name}"):
                self.delete("pods", ns, pod["metadata"]["name"])
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "kind": kind},
            }
        )

    async def _list_or_watch(self, request: web.Request) -> web.StreamResponse:
        kind, ns = self._kind(request), request.match_info["ns"]
        selector = request.query.get("labelSelector")
        watching = request.query.get("watch") in ("true", "1", "True")
        self.requests[f"{'WATCH' if watching else 'LIST'} {kind}"] += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response(
                status_body(500, "InternalError", "injected failure"), status=500
            )
        try:
            matches(selector, {})
        except ValueError as exc:
            return web.json_response(status_body(400, "BadRequest", str(exc)), status=400)
        if not watching:
            api_version, kind_name = KINDS[kind]
            return web.json_response({
                "kind": kind_name + "List", "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self.rv)},
                "items": self.items(kind, ns, selector),
            })  # fmt: skip
        return await self._watch(request, kind, ns, selector)

    async def _watch(
        self, request: web.Request, kind: Kind, ns: str, selector: str | None
    ) -> web.StreamResponse:
        since = request.query.get("resourceVersion") or "0"
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        if since != "0" and int(since) < self.compacted:
            gone = status_body(
                410, "Expired", f"too old resource version: {since} ({self.compacted})"
            )
            await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return response
        watcher = _Watcher(kind, ns, selector, asyncio.Queue())
        # No await between replay and subscribing: nothing can fall in between.
        if since == "0":
            backlog = [{"type": "ADDED", "object": o} for o in self.items(kind, ns, selector)]
        else:
            backlog = [
                {"type": event, "object": copy.deepcopy(obj)}
                for rv, k, event, obj in self.history
                if rv > int(since) and k == kind and obj["metadata"]["namespace"] == ns
                and matches(selector, obj["metadata"].get("labels", {}))
            ]  # fmt: skip
        for item in backlog:
            watcher.queue.put_nowait(item)
        self.watchers.append(watcher)
        try:
            async with asyncio.timeout(timeout):
                while (item := await watcher.queue.get()) is not None:
                    await response.write(json.dumps(item).encode() + b"\n")
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            self.watchers.remove(watcher)
        return response

    async def _log(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        if self.get("pods", ns, name) is None:
            return web.json_response(
                status_body(404, "NotFound", f'pods "{name}" not found'), status=404
            )
        path = self.logs.get((ns, name))
        if path is None or not path.exists():
            return web.json_response(
                status_body(
                    400, "BadRequest", f'container "step" in pod "{name}" is waiting to start'
                ),
                status=400,
            )
        data = path.read_bytes()
        limit = request.query.get("limitBytes")
        if limit:
            data = data[: int(limit)]
        return web.Response(body=data, content_type="text/plain")
