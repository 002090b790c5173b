"""User mistakes: one ``error:`` line with the fix, exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.pipelines import NO_PIPELINE, SMALL

pytestmark = pytest.mark.e2e

CASES = {
    "missing file": (["run", "missing.py"], "pipeline file 'missing.py' does not exist"),
    "no pipeline": (["run", "lonely.py"], "lonely.py defines no @pipeline"),
    "bad value": (["run", "small.py", "-p", "n=ten"], "parameter 'n' expects int, got 'ten'"),
    "bad bool": (["run", "small.py", "-p", "verbose=maybe"], "parameter 'verbose' expects bool"),
    "unknown parameter": (
        ["run", "small.py", "-p", "rows=3"],
        "pipeline 'small' has no parameter 'rows'; its parameters: n (int, default 5)",
    ),
    "not name=value": (["run", "small.py", "-p", "n"], "-p 'n' is not NAME=VALUE"),
    "unreachable nats": (
        ["run", "small.py", "--nats", "nats://127.0.0.1:1"],
        "cannot connect to NATS at nats://127.0.0.1:1",
    ),
    "bad setting": (["run", "small.py", "--executor", "cloud"], "setting 'executor' = 'cloud'"),
    "unknown run": (["status", "no-such-run"], "run 'no-such-run' not found"),
    "bad event type": (["events", "--type", "step.exploded"], "--type 'step.exploded'"),
    "unknown option": (["run", "small.py", "--bogus"], "No such option: --bogus"),
    "missing argument": (["run"], "Missing argument 'PATH[:FUNC]'. (see `runner run --help`)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistake_is_one_error_line_and_exit_2(ws: Workspace, case: str) -> None:
    ws.write("small.py", SMALL)
    ws.write("lonely.py", NO_PIPELINE)
    args, message = CASES[case]
    # Keep the unreachable-server case short: the default is to try for 5 s.
    result = ws.run(*args, RUNNER_NATS_CONNECT_TIMEOUT_SECONDS="1")
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("error: "), result
    assert message in lines[0], result
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
