"""A step's Job spec holds no credential: they come from the credentials Secret."""

from __future__ import annotations

import json

from runner.config import KubernetesSettings
from runner.executors.kubernetes_manifest import build_job
from runner.step.request import REQUEST_ENV, StepRequest
from tests.unit.executors.requests import make_request

SECRET = "planted-k8s-nats-password"


def test_the_job_spec_carries_no_nats_password() -> None:
    url = f"nats://runner:{SECRET}@nats.runner.svc:4222"
    validated = StepRequest.model_validate({**make_request().model_dump(), "nats_url": url})
    # model_copy does not validate: the manifest must not trust the request to be clean.
    bypassed = make_request().model_copy(update={"nats_url": url})
    settings = KubernetesSettings(credentials_secret="runner-credentials")
    for request in (validated, bypassed):
        job = build_job(request, settings)
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item["value"] for item in container["env"]}
        assert SECRET not in json.dumps(job)
        assert env["NATS_URL"] == "nats://nats.runner.svc:4222"
        carried = StepRequest.from_env_value(env[REQUEST_ENV])
        assert carried.nats_url == "nats://nats.runner.svc:4222"
        assert SECRET not in carried.model_dump_json()
        assert {"secretRef": {"name": "runner-credentials"}} in container["envFrom"]
