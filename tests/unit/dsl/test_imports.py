"""The authoring API is pure: importing it loads no I/O client library."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("nats", "aioboto3", "aiobotocore", "botocore", "kubernetes_asyncio", "opentelemetry")

_PROBE = """
import json, sys
import runner
from runner import component, pipeline, Input, Output, Dataset
import runner.dsl.loader, runner.dsl.invoke, runner.dsl.compiler
print(json.dumps(sorted(sys.modules)))
"""


def test_import_runner_loads_no_io_client() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    offending = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offending == []
    assert "runner.cli" not in loaded
