"""The controller: the asyncio shell around the pure scheduler.

Per batch of events from a durable pull consumer, grouped by run (events of
one run are applied in stream order; runs proceed concurrently):

1. load the run state and its KV revision;
2. ``decide`` each event (pure; new actions land in the state's outbox);
3. write the state back with compare-and-set (reload and redo on conflict);
4. perform the outbox actions, then remove them from the state (CAS again);
5. ack the events.

An action that cannot be performed yet (a retry's ``not_before``, a launch
whose environment is still being built) stays in the outbox; a timer
flushes the run's outbox again when its time comes or its build finishes,
so one slow build never stalls other runs.

A crash anywhere repeats at most the idempotent steps 4-5, so delivery is
at-least-once and effects are effectively-once. Undecodable or rejected
events go to the dead-letter subject and are acked: they never block a run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.bus.base import Bus, Consumer, Delivery, header_value
from runner.bus.dead_letters import log_reason, redelivery_delay
from runner.controller.effects import Effects
from runner.core import (
    LaunchStep,
    Plan,
    RunState,
    complete_actions,
    decide,
    pending_actions,
)
from runner.core.actions import launch_action_id
from runner.core.scheduler_run import unloadable_run
from runner.core.state import StepStatus
from runner.envs import StepEnvironments
from runner.errors import BusUnavailableError, ConflictError, RunnerError
from runner.events.auth import ReportKeys
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, RunRequested
from runner.executors.base import AttemptInfo, Executor
from runner.records.index import RunIndex, RunSummary
from runner.records.plans import PlanCache, SpecUnavailableError
from runner.records.states import RunStates, encode_state
from runner.store.base import ArtifactStore
from runner.tasks import raise_if_cancelling, stop_task, stop_tasks
from runner.telemetry.ids import adopt_run_request, attempt_trace
from runner.telemetry.tracer import RunTracer, SpanBatch

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 20
DEFAULT_DURABLE = "runner-controller"
FULL_RECONCILE_EVERY = 6
"""Every this many reconcile passes, runs other controllers drove are checked too."""


@dataclass
class ControllerStats:
    events: int = 0
    dead_lettered: int = 0
    conflicts: int = 0
    actions: int = 0
    reconciles: int = 0
    by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Controller:
    """Consumes run events and drives runs to completion."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: ArtifactStore,
        executor: Executor,
        step_nats_url: str | None = None,
        step_env: dict[str, str] | None = None,
        durable: str = DEFAULT_DURABLE,
        batch: int = 128,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: RunTracer | None = None,
        keys: ReportKeys | None = None,
        reconcile_seconds: float = 10.0,
        environments: StepEnvironments | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.durable = durable
        self.batch = batch
        self.clock = clock
        self.plans = PlanCache(store)
        self.states = RunStates(bus)
        self.index = RunIndex(bus)
        """Run summaries for ``runner runs list``, written when a run changes status."""
        self.tracing = tracing or RunTracer()
        self.keys = keys
        """Verifies step reports (and signs ours); None accepts unsigned reports."""
        self.reconcile_seconds = reconcile_seconds
        self.effects = Effects(
            bus=bus,
            store=store,
            executor=executor,
            step_nats_url=step_nats_url,
            step_env=step_env,
            tracing=self.tracing,
            keys=keys,
            environments=environments,
        )
        self.stats = ControllerStats()
        self._stopping = asyncio.Event()
        self._timers: dict[str, asyncio.Task[None]] = {}
        self.ready = asyncio.Event()
        """Set once the consumer exists and recovery is done."""
        self.caught_up = asyncio.Event()
        """Set once a fetch found nothing waiting: the backlog is applied."""
        self._active_runs: set[str] = set()
        """Unfinished runs this controller applied events to (reconciled every pass)."""

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until :meth:`stop`; in-flight events finish before it returns."""
        consumer = await self.bus.pull_consumer(self.durable)
        reconciler: asyncio.Task[None] | None = None
        try:
            attempts = await self.recover()
            self.ready.set()
            reconciler = asyncio.create_task(
                self._reconcile_loop(attempts), name="controller-reconcile"
            )
            while not self._stopping.is_set():
                deliveries = await self._fetch(consumer)
                if deliveries:
                    await self.process(deliveries)
                else:
                    self.caught_up.set()
        finally:
            await stop_task(reconciler)
            await self._cancel_timers()
            await consumer.close()

    def stop(self) -> None:
        """Ask :meth:`run` to stop after the batch in hand."""
        self._stopping.set()

    async def _fetch(self, consumer: Consumer) -> list[Delivery]:
        """The next batch; a NATS outage is waited out (logged once), never fatal.

        The client reconnects by itself (and ``runner up`` restarts its server);
        until then each try fails fast. :meth:`stop` still ends the wait."""
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        while True:
            try:
                deliveries = await consumer.fetch(self.batch, timeout=0.5)
            except BusUnavailableError as exc:
                if down_since is None:
                    down_since = loop.time()
                    log.warning("controller: NATS unavailable, retrying until it is back: %s", exc)
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=0.5)
                except TimeoutError:
                    continue
                return []
            if down_since is not None:
                log.info("controller: NATS is back after %.1fs", loop.time() - down_since)
            return deliveries

    async def recover(self) -> list[AttemptInfo]:
        """Perform what a previous controller decided but did not finish; bring the
        run index up to date (it may have missed a status change in a crash).

        Returns the attempts the run states say are launched or running, for the
        first reconcile pass."""
        summaries = []
        attempts: list[AttemptInfo] = []
        for run_id in await self.states.run_ids():
            loaded = await self.states.load(run_id)
            if loaded is None:
                continue
            summaries.append(RunSummary.from_state(loaded[0]))
            attempts += self._attempts_of(loaded[0])
            if pending_actions(loaded[0]):
                await self._flush_outbox(loaded[0], loaded[1])
        try:
            await self.index.backfill(summaries)
        except RunnerError as exc:
            log.warning("could not update the run index: %s", exc)
        return attempts

    # -- reconciliation -------------------------------------------------------------

    async def _reconcile_loop(self, first: list[AttemptInfo]) -> None:
        """Ask the executor about every attempt believed running: at start (once the
        backlog is applied, so reports already in the stream count) and periodically.
        An attempt that died unwatched is reported ``Lost`` by the executor."""
        await self.caught_up.wait()
        await self._reconcile(first)
        passes = 0
        while True:
            await asyncio.sleep(self.reconcile_seconds)
            passes += 1
            try:
                runs = set(self._active_runs)
                if passes % FULL_RECONCILE_EVERY == 0:
                    runs |= {s.run_id for s in await self.index.scan() if not s.status.terminal}
                attempts: list[AttemptInfo] = []
                for run_id in sorted(runs):
                    loaded = await self.states.load(run_id)
                    if loaded is None or loaded[0].status.terminal:
                        self._active_runs.discard(run_id)
                        continue
                    attempts += self._attempts_of(loaded[0])
                await self._reconcile(attempts)
            except RunnerError as exc:  # the bus or the store is away: next pass
                raise_if_cancelling(exc)
                log.warning("reconcile pass failed: %s", exc)

    async def _reconcile(self, attempts: list[AttemptInfo]) -> None:
        self.stats.reconciles += 1
        try:
            await self.effects.executor.reconcile(attempts)
        except RunnerError as exc:
            log.warning("reconcile of %d attempt(s) failed: %s", len(attempts), exc)

    def _attempts_of(self, state: RunState) -> list[AttemptInfo]:
        """Attempts of ``state`` that were launched and have not reported an end."""
        if state.status.terminal:
            return []
        self._active_runs.add(state.run_id)
        queued = {a.id for a in state.outbox if isinstance(a, LaunchStep)}
        found = []
        for name, attempt in state.active.items():
            step = state.steps.get(name)
            if step is None or step.status not in (StepStatus.LAUNCHING, StepStatus.RUNNING):
                continue  # waiting for a retry: nothing runs yet
            if launch_action_id(state.run_id, name, attempt) in queued:
                continue  # not launched yet: the outbox will do it
            trace = attempt_trace(state, name, attempt, step.started_at or self.clock())
            found.append(
                AttemptInfo(
                    run_id=state.run_id, pipeline=state.pipeline, step=name, attempt=attempt,
                    launch_id=step.launch_id, traceparent=trace[0], tracestate=trace[1],
                )
            )  # fmt: skip
        return found

    # -- events ----------------------------------------------------------------------

    async def process(self, deliveries: Sequence[Delivery]) -> None:
        by_run: dict[str, list[tuple[Delivery, Event]]] = defaultdict(list)
        for delivery in deliveries:
            self.stats.events += 1
            if delivery.event is None:
                await self._dead_letter(delivery, str(delivery.error))
                continue
            by_run[delivery.event.run_id].append((delivery, delivery.event))
        await asyncio.gather(*(self._process_run(run, items) for run, items in by_run.items()))

    async def _process_run(self, run_id: str, items: list[tuple[Delivery, Event]]) -> None:
        started = self.tracing.clock()
        try:
            state, revision, rejected = await self._apply(run_id, items)
            for delivery, reason in rejected:
                await self._dead_letter(delivery, reason)
            if state is not None and revision is not None:
                with self.tracing.handling(state, [event for _, event in items], started):
                    await self._flush_outbox(state, revision)
        except RunnerError as exc:
            # Transient trouble (bus/store): leave the events for redelivery.
            log.warning("run %s: could not apply %d event(s): %s", run_id, len(items), exc)
            await _settle([d for d, _ in items], ack=False)
            return
        dead = {id(d) for d, _ in rejected}
        await _settle([d for d, _ in items if id(d) not in dead], ack=True)

    async def _apply(
        self, run_id: str, items: list[tuple[Delivery, Event]]
    ) -> tuple[RunState | None, int | None, list[tuple[Delivery, str]]]:
        for _ in range(CAS_ATTEMPTS):
            loaded = await self.states.load_raw(run_id)
            state, revision, before = loaded if loaded is not None else (None, None, None)
            was = state.status if state is not None else None
            rejected: list[tuple[Delivery, str]] = []
            spans = self.tracing.batch()
            for delivery, event in items:
                state, why = await self._apply_one(state, event, spans)
                if why is not None:
                    rejected.append((delivery, why))
            if state is None:
                return state, revision, rejected
            after = encode_state(state)
            if after == before:
                return state, revision, rejected
            try:
                revision = await self.states.save(state, revision, value=after)
            except ConflictError:
                self.stats.conflicts += 1
                continue
            spans.emit()  # only the controller whose write won ends these spans
            if state.status is not was:
                await self.index.record(state)
            if state.status.terminal:
                self._active_runs.discard(run_id)
            else:
                self._active_runs.add(run_id)
            return state, revision, rejected
        raise ConflictError(f"run {run_id}: state kept changing under {CAS_ATTEMPTS} attempts")

    async def _apply_one(
        self, state: RunState | None, event: Event, spans: SpanBatch
    ) -> tuple[RunState | None, str | None]:
        """Apply one event: the new state, and why the event was rejected (or None)."""
        forged = self.keys.verify(event) if self.keys is not None else None
        if forged is not None:
            return state, forged
        if state is None and event.kind is not EventKind.RUN_REQUESTED:
            return state, f"unknown run {event.run_id!r}: no run.requested was recorded for it"
        try:
            plan = await self._plan_for(state, event)
        except SpecUnavailableError as exc:
            if state is None:  # the request is recorded, as a failed run saying why
                error = ErrorInfo(reason="SpecUnavailable", message=str(exc))
                return unloadable_run(event, error, self.clock()), None
            if state.status.terminal:
                return state, None  # a finished run: nothing an event could change
            return state, f"the pipeline spec of run {state.run_id!r} cannot be loaded: {exc}"
        if state is None:  # a new run: its trace ids are fixed here, once
            event = adopt_run_request(event)
        seen = spans.before(state, event)
        decision = decide(state, event, plan, self.clock())
        if decision.rejected:
            return state, decision.rejected
        spans.after(seen, decision.state, plan)
        return decision.state, None

    async def _plan_for(self, state: RunState | None, event: Event) -> Plan:
        if state is not None:
            return await self.plans.get(state.spec_uri, state.pipeline_digest)
        data = event.data
        assert isinstance(data, RunRequested)
        return await self.plans.get(data.spec_uri, data.pipeline_digest)

    # -- actions ---------------------------------------------------------------------

    async def _flush_outbox(self, state: RunState, revision: int) -> None:
        plan: Plan | None = None  # loaded for launches only (a failed run may have none)
        done: list[str] = []
        now = self.clock()
        for action in pending_actions(state):
            if isinstance(action, LaunchStep) and action.not_before and action.not_before > now:
                self._schedule(
                    action.id, state.run_id, delay=(action.not_before - now).total_seconds()
                )
                continue
            if isinstance(action, LaunchStep) and plan is None:
                plan = await self.plans.get(state.spec_uri, state.pipeline_digest)
            pending = await self.effects.perform(action, state, plan)
            if pending is not None:  # its environment is being built: left in the outbox
                self._schedule(action.id, state.run_id, after=pending)
                continue
            self.stats.actions += 1
            done.append(action.id)
        if done:
            await self._complete(state.run_id, done, state, revision)

    async def _complete(self, run_id: str, ids: list[str], state: RunState, revision: int) -> None:
        for _ in range(CAS_ATTEMPTS):
            try:
                await self.states.save(complete_actions(state, ids), revision)
                return
            except ConflictError:
                self.stats.conflicts += 1
                loaded = await self.states.load(run_id)
                if loaded is None:
                    return
                state, revision = loaded

    def _schedule(
        self,
        action_id: str,
        run_id: str,
        *,
        delay: float = 0.0,
        after: asyncio.Future[Any] | None = None,
    ) -> None:
        """Flush ``run_id``'s outbox again in ``delay`` seconds, or once ``after`` is
        done (one timer per action; the action itself reads the outcome)."""
        if action_id in self._timers:
            return

        async def fire() -> None:
            if after is not None:
                await asyncio.wait([after])  # never raises what the build raised
            else:
                await asyncio.sleep(delay)
            if self._timers.get(action_id) is task:  # a flush may schedule it anew
                del self._timers[action_id]
            try:
                loaded = await self.states.load(run_id)
                if loaded is not None:
                    await self._flush_outbox(*loaded)
            except RunnerError:
                # The action stays in the outbox; recovery or the next event retries it.
                log.warning("run %s: delayed action failed", run_id, exc_info=True)

        name = "environment-wait" if after is not None else "retry-timer"
        task = asyncio.create_task(fire(), name=f"{name}:{action_id}")
        self._timers[action_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._timers.get(action_id) is done:
                del self._timers[action_id]

        task.add_done_callback(forget)

    async def _cancel_timers(self) -> None:
        await stop_tasks(self._timers.values())

    async def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Park ``delivery`` on the dead-letter stream (full reason in its header), ack
        it and log one WARNING line with the reason cut short. Never raises a
        RunnerError: one bad message must not stop the controller.

        When the dead-letter stream is unavailable the delivery is nak'ed with a
        backoff growing with its delivery count, so it comes back and is
        dead-lettered then. Returns whether it was dead-lettered now.
        """
        subject = header_value(delivery.subject, 200)
        try:
            await self.bus.dead_letter(delivery.subject, delivery.body, delivery.headers, reason)
        except RunnerError as exc:
            delay = redelivery_delay(delivery.num_delivered)
            log.warning(
                "could not dead-letter a message on %s, trying again in %.0fs: %s",
                subject,
                delay,
                log_reason(str(exc)),
            )
            settle, what = delivery.nak(delay), "nak"
        else:
            self.stats.dead_lettered += 1
            log.warning("dead-lettered a message on %s: %s", subject, log_reason(reason))
            settle, what = delivery.ack(), "ack"
        try:
            await settle
        except RunnerError as exc:
            # The server redelivers it after the ack wait; a second dead letter of
            # it is dropped by the dead-letter stream's dedup (Nats-Msg-Id).
            log.warning("could not %s a message on %s: %s", what, subject, log_reason(str(exc)))
        return what == "ack"


async def _settle(deliveries: Sequence[Delivery], *, ack: bool) -> None:
    """Ack (or nak for redelivery) each delivery. A NATS outage here is not fatal:
    an ack that is lost means a redelivery, which changes nothing (effects are
    idempotent and the state records what was applied)."""
    for delivery in deliveries:
        try:
            await (delivery.ack() if ack else delivery.nak(delay=1.0))
        except RunnerError as exc:
            log.warning("could not %s a message on %s (%s): it will be redelivered",
                        "ack" if ack else "nak", delivery.subject, exc)  # fmt: skip
