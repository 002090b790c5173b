"""The contract between an executor and the step process it starts.

An executor serialises a :class:`StepRequest` (a 0600 file for local
processes, an environment variable for Kubernetes Jobs); the step process
reads it back. It carries references only — never credentials: the step
reads those from its own environment (``AWS_*``, ``RUNNER_NATS_*``), which an
executor fills from a Secret or passes to the process it starts. URLs in it
(the NATS URL, the controller's step settings) are stripped of their
user-info on construction, whoever builds the request.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.events.models import ArtifactRef, CodeRef
from runner.privacy import redact_url, write_private
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
    """Where to publish step events, without user-info: credentials come from the
    step's environment (``RUNNER_NATS_USER`` / ``RUNNER_NATS_PASSWORD`` / ``RUNNER_NATS_TOKEN``)."""
    cache_key: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    """Non-secret settings the step process needs (e.g. the S3 endpoint)."""
    state_dir: str | None = None
    """Local executor only: where the step records that it reported."""
    python: str | None = None
    """Local executor only: the interpreter of the step's environment (a virtualenv
    under ``<home>/envs/`` built for the component's ``packages``); None = the
    executor's own interpreter."""
    environment: str | None = None
    """Which build of the step's environment it asks for (the digest of its exact
    resolved versions; None without ``packages``): the local executor never forks
    it from a warm worker of another build."""

    @field_validator("nats_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        return redact_url(value) if value else value

    @field_validator("env")
    @classmethod
    def _no_credentials_in_env(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: redact_url(v) if "://" in v else v for k, v in value.items()}

    def to_env_value(self) -> str:
        return base64.b64encode(self.model_dump_json().encode()).decode()

    @classmethod
    def from_env_value(cls, value: str) -> StepRequest:
        return cls.model_validate_json(base64.b64decode(value))

    def write(self, path: Path) -> None:
        """Write the request to ``path``, readable by its owner only (mode 0600)."""
        write_private(path, self.model_dump_json(indent=1))

    @classmethod
    def read(cls, path: Path) -> StepRequest:
        return cls.model_validate(json.loads(path.read_text()))
