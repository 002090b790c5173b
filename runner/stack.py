"""The stack of one runner process: the bus, the store and, when this process
drives runs, the controller with its executor.

:class:`Stack` connects to NATS (``--nats``/``NATS_URL``), or finds the
embedded ``nats-server`` a ``runner up`` runs for the home, or starts a
private one under ``<home>/nats``; it opens the store (``<home>/store``
unless configured), and runs a controller with the local executor (or the
Kubernetes executor: ``runner controller`` in a cluster) when asked to, or
by default when it started that private server itself — nobody else is
there to drive the run. History (events, run states, cache, artifacts)
persists across invocations.

A server it started is supervised: if it dies it is started again on the
same port (clients reconnect by themselves); a server left by a killed
command (its owner is dead) is stopped and replaced, never adopted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runner.bus import EmbeddedNats, connect, discover
from runner.bus.base import Bus
from runner.bus.server_record import read_record
from runner.config import Settings
from runner.controller.controller import Controller
from runner.controller.keys import report_keys
from runner.envs import EnvironmentManager, StepEnvironments
from runner.envs.locks import ClusterLocks
from runner.errors import BusError, BusUnavailableError, ObjectNotFoundError
from runner.events.auth import ReportKeys
from runner.events.envelope import Event
from runner.executors.base import Publish
from runner.executors.local import LocalExecutor
from runner.privacy import make_private_dir, split_credentials
from runner.store.base import ArtifactStore
from runner.store.factory import open_store
from runner.tasks import stop_task
from runner.telemetry.tracer import RunTracer, start_run_tracer

if TYPE_CHECKING:
    from runner.executors.kubernetes import KubernetesExecutor

log = logging.getLogger(__name__)

RESTART_WAIT_SECONDS = 20.0
"""How long a command waits for another process's embedded server to come back."""


class Stack:
    """An async context manager holding the bus, the store and (maybe) a controller."""

    def __init__(self, settings: Settings | None = None, *, controller: bool | None = None) -> None:
        self.settings = settings or Settings()
        self.want_controller = controller
        self.nats_url: str | None = None
        self.embedded: EmbeddedNats | None = None
        self._bus: Bus | None = None
        self._store: ArtifactStore | None = None
        self.executor: LocalExecutor | KubernetesExecutor | None = None
        self.controller: Controller | None = None
        self.environments: StepEnvironments | None = None
        """Environments for components' ``packages`` (local builds, or cluster locks)."""
        self._controller_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.tracing: RunTracer | None = None

    @property
    def bus(self) -> Bus:
        assert self._bus is not None, "use Stack as an async context manager"
        return self._bus

    @property
    def store(self) -> ArtifactStore:
        assert self._store is not None, "use Stack as an async context manager"
        return self._store

    @property
    def controller_task(self) -> asyncio.Task[None] | None:
        """The in-process controller's task (None when this stack runs none)."""
        return self._controller_task

    @property
    def supervisor_task(self) -> asyncio.Task[None] | None:
        """The task keeping the embedded server alive (None when this stack started none);
        it ends with a :class:`~runner.errors.BusError` when it gave up."""
        return self._supervisor

    @property
    def controller_running(self) -> bool:
        """Whether the in-process controller is consuming (read by the health probes);
        not once the embedded server it depends on could not be kept running."""
        task, supervisor = self._controller_task, self._supervisor
        server_lost = supervisor is not None and supervisor.done()
        return task is not None and not task.done() and not server_lost

    async def __aenter__(self) -> Stack:
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        home = self.settings.home.resolve()
        make_private_dir(home)  # 0700: what is under it is the owner's only
        url = self.settings.nats.url
        if url is None:
            url = await _owned_server(home / "nats")
        if url is None:
            # start() stops an orphan left by a killed command first.
            self.embedded = EmbeddedNats(home / "nats")
            url = await self.embedded.start()
            self._supervisor = asyncio.create_task(
                _supervise(self.embedded), name="nats-supervisor"
            )
        self.nats_url = url
        self._bus = await connect(self.settings.nats, url=url)
        await self._bus.ensure_streams()
        self._store = open_store(self.settings.store_uri(), self.settings.storage)
        # Only a private server means nobody else is there to drive the run: an
        # external NATS or a `runner up` stack comes with its own controller.
        run_controller = self.want_controller
        if run_controller is None:
            run_controller = self.embedded is not None
        if run_controller:
            await self._start_controller(url)

    def step_env(self) -> dict[str, str]:
        """Non-secret settings a step process needs to reach the same store.

        Credentials are not here: steps inherit them from the environment
        (locally) or a Secret (Kubernetes)."""
        storage = self.settings.storage
        env = {"RUNNER_STORE": self.settings.store_uri()}
        if storage.endpoint_url:
            env["AWS_ENDPOINT_URL_S3"] = storage.endpoint_url
        if storage.region:
            env["AWS_DEFAULT_REGION"] = storage.region
        return env

    async def _start_controller(self, url: str) -> None:
        self.tracing = start_run_tracer(self.settings.home, executor=self.settings.executor)
        # Step requests are written down: URLs with credentials stay out of them.
        step_env, secret_env = split_credentials({**self.step_env(), **self.tracing.step_env()})
        keys = report_keys(self.settings, in_cluster=self._in_cluster())
        publish = _signing(self.bus.publish, keys)  # what executors report is ours to vouch for
        if self.settings.executor == "kubernetes":
            from runner.executors.kubernetes import KubernetesExecutor  # its client is heavy

            self.executor = KubernetesExecutor(
                settings=self.settings.kubernetes, publish=publish, store=self.store, keys=keys
            )
            await self.executor.start()  # watch now: adopt Jobs a previous controller left
        else:
            self.executor = LocalExecutor(
                home=self.settings.home,
                store=self.store,
                publish=publish,
                settings=self.settings.local,
                keys=keys,
                # Credentials go to the step's environment, never into its request.
                secret_env={**secret_env, **self.settings.nats.step_env(url)},
            )
        self.environments = self._environments()
        self.controller = Controller(
            bus=self.bus,
            store=self.store,
            executor=self.executor,
            step_nats_url=url,
            step_env=step_env,
            tracing=self.tracing,
            keys=keys,
            reconcile_seconds=self.settings.controller.reconcile_seconds,
            environments=self.environments,
        )
        self._controller_task = asyncio.create_task(self.controller.run(), name="controller")
        ready = asyncio.create_task(self.controller.ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._controller_task}, return_when=asyncio.FIRST_COMPLETED
        )
        if self._controller_task in done:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            self._controller_task.result()  # re-raise why it stopped

    def _environments(self) -> StepEnvironments:
        """Local virtualenvs under ``<home>/envs``, or (Kubernetes) locks in the store."""
        if self.settings.executor != "kubernetes":
            return EnvironmentManager(self.settings.home.resolve(), self.settings.envs)
        store = self.store

        async def get(key: str) -> bytes | None:
            try:
                return await store.get_bytes(key)
            except ObjectNotFoundError:
                return None

        async def put(key: str, data: bytes) -> None:
            await store.put_if_absent(key, data)

        version = self.settings.kubernetes.packages_python_version
        return ClusterLocks(
            get=get,
            put=put,
            settings=self.settings.envs,
            python_version=version or ".".join(platform.python_version_tuple()[:2]),
        )

    def _in_cluster(self) -> bool:
        if self.settings.executor != "kubernetes":
            return False
        from runner.executors.kubernetes_client import in_cluster  # its client is heavy

        return in_cluster(self.settings.kubernetes)

    async def aclose(self) -> None:
        """Stop in phases: controller (finishing in-flight events), executor, clients, server."""
        if self.controller is not None and self._controller_task is not None:
            self.controller.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._controller_task), timeout=10)
            except TimeoutError:
                self._controller_task.cancel()
            except Exception as exc:
                # The controller died earlier; the rest must still be closed (above
                # all the nats-server, which would otherwise outlive us).
                log.error("the controller had stopped: %s", exc)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._controller_task
        if self.environments is not None:  # builds in flight: stopped, discarded later
            await self.environments.aclose()
        if self.executor is not None:
            await self.executor.aclose()
        if self.tracing is not None:  # after the controller: its last spans are queued
            await asyncio.to_thread(self.tracing.shutdown)
        if self._store is not None:
            await self._store.close()
        if self._bus is not None:
            await self._bus.close()
        await stop_task(self._supervisor)  # before the server: a stop is no crash
        if self.embedded is not None:
            await self.embedded.stop()


async def _owned_server(data_dir: Path) -> str | None:
    """The URL of the embedded server another live runner process owns for this
    home; waits while that owner restarts it. ``None``: no such server (none at
    all, or an orphan — the caller starts its own, which replaces it)."""
    deadline = time.monotonic() + RESTART_WAIT_SECONDS
    while (url := discover(data_dir)) is None:
        record = read_record(data_dir)
        if record is None or not record.owner_alive():
            return None
        if time.monotonic() > deadline:
            raise BusUnavailableError(
                f"the embedded nats-server of {data_dir.parent} (owned by pid "
                f"{record.owner.pid}) has been down for {RESTART_WAIT_SECONDS:g}s: wait for "
                f"that process to restart it, or stop it (pid {record.owner.pid}) and try again"
            )
        await asyncio.sleep(0.1)
    return url


async def _supervise(server: EmbeddedNats) -> None:
    try:
        await server.supervise()
    except BusError as exc:
        log.error("%s", exc)  # the owner (serve(), `runner run`) ends because of it
        raise


def _signing(publish: Publish, keys: ReportKeys) -> Publish:
    """``publish`` that signs step events as the controller's (executors report through it)."""

    async def signed(event: Event) -> None:
        await publish(keys.sign(event))

    return signed
