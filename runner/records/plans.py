"""Compiled specs for the controller, loaded from the store and indexed once.

A spec is immutable and content-addressed, so its :class:`~runner.core.Plan`
is cached by digest: building the index is O(steps) once per pipeline
version, never per event.
"""

from __future__ import annotations

from collections import OrderedDict

from runner.core import Plan
from runner.errors import PermanentError, TransientError
from runner.spec.models import PipelineSpec
from runner.store.base import ArtifactStore


class SpecUnavailableError(PermanentError):
    """The run's spec is missing from the store or does not match its digest."""


class PlanCache:
    """Loads ``PipelineSpec`` JSON from the store; keeps the most recent plans."""

    def __init__(self, store: ArtifactStore, capacity: int = 64) -> None:
        self.store = store
        self.capacity = capacity
        self._plans: OrderedDict[str, Plan] = OrderedDict()

    async def get(self, spec_uri: str, digest: str) -> Plan:
        plan = self._plans.get(digest)
        if plan is not None:
            self._plans.move_to_end(digest)
            return plan
        try:
            raw = await self.store.get_json(self.store.key_for(spec_uri))
            spec = PipelineSpec.model_validate(raw)
        except TransientError:
            raise  # the store is away for now: the event is redelivered, the run waits
        except Exception as exc:
            raise SpecUnavailableError(
                f"cannot load the pipeline spec {spec_uri}: {exc}; was it submitted to this store?"
            ) from exc
        if spec.digest() != digest:
            raise SpecUnavailableError(
                f"the pipeline spec at {spec_uri} has digest {spec.digest()[:12]}, "
                f"not {digest[:12]} as the run requested: the store was modified"
            )
        plan = Plan.from_spec(spec)
        self._plans[digest] = plan
        if len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return plan
