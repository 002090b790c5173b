"""The contract between an executor and the step process it starts.

An executor serialises a :class:`StepRequest` (a file for local processes,
an environment variable for Kubernetes Jobs); the step process reads it back.
It carries references only — never credentials: the step reads those from
its own environment (``AWS_*``, ``NATS_*``), which an executor fills from a
Secret or inherits.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.events.models import ArtifactRef, CodeRef
from runner.spec.models import ComponentSpec, TaskSpec

REQUEST_ENV = "RUNNER_STEP_REQUEST"
"""Environment variable holding a base64 JSON request (Kubernetes)."""


class StepRequest(BaseModel):
    """Everything a step attempt needs, resolved by the controller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    pipeline: str
    step: str
    attempt: int
    task: TaskSpec
    component: ComponentSpec
    parameters: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]] = Field(default_factory=dict)
    """Input artifacts by input name; a list for a ``Collected`` input."""
    code: CodeRef | None = None
    store_uri: str
    nats_url: str | None = None
    """Where to publish step events; credentials come from the environment."""
    cache_key: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    """Non-secret settings the step process needs (e.g. the S3 endpoint)."""
    state_dir: str | None = None
    """Local executor only: where the step records that it reported."""

    def to_env_value(self) -> str:
        return base64.b64encode(self.model_dump_json().encode()).decode()

    @classmethod
    def from_env_value(cls, value: str) -> StepRequest:
        return cls.model_validate_json(base64.b64decode(value))

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1))

    @classmethod
    def read(cls, path: Path) -> StepRequest:
        return cls.model_validate(json.loads(path.read_text()))
