"""The NATS password never shows up, through the CLI and a ``runner up`` stack.

A nats-server with user/password auth; ``runner up`` and every command get
the password in the URL (``--nats nats://user:pw@host``) or in the
environment (``RUNNER_NATS_PASSWORD``). After a run (and a failing step's
log, an unknown run's error), everything written under the home — while
``runner up`` runs and after it stopped — and everything any command
printed is grepped for it. (tests/integration/runtime/test_secrets.py does the
same through the library, with S3 keys and file modes.)
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.harness import Stack
from tests.chaos.pipeline import STEPS
from tests.chaos.tally import Tally

pytestmark = pytest.mark.chaos

USER = "chaos-user"


def _files_with(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(str(path.relative_to(root)))
            except OSError:
                continue
    return hits


@pytest.mark.timeout(150)
@pytest.mark.parametrize("form", ["url", "env"])
def test_the_nats_password_is_never_printed_nor_written_under_the_home(
    stack: Stack, tally: Callable[[str, int], Tally], form: str
) -> None:
    password = f"pw-{secrets.token_hex(12)}"
    t = tally(f"NATS password in the {form} form: printed or written", 1)
    with t.moment(f"a run on runner up, password given in the {form} form"):
        url = stack.start_external_nats(user=USER, password=password)
        host = url.removeprefix("nats://")
        if form == "url":
            stack.settings_args = ("--nats", f"nats://{USER}:{password}@{host}")
        else:
            stack.env.update(NATS_URL=url, RUNNER_NATS_USER=USER, RUNNER_NATS_PASSWORD=password)
        stack.start_up()
        run, _ = stack.submit(tag=f"secret-{form}", seconds=0.1)
        stack.wait_for_run(run)
        foreground = stack.cli(
            "run", str(stack.pipeline), "--plain", "--no-cache",
            "-p", f"ledger={stack.ledger.path}", "-p", "tag=fg", "-p", "seconds=0.1",
        )  # fmt: skip
        assert foreground.returncode == 0, foreground
        for args in (
            ("status", run),
            ("status", run, "--json"),
            ("runs", "list"),
            ("events", "--run", run),
            ("logs", run, STEPS[0]),
            ("config", "show"),
            ("config", "show", "--json"),
            ("status", "no-such-run"),
        ):
            stack.cli(*args)
        needle = password.encode()
        while_up = _files_with(stack.home, needle)
        assert stack.stop_up(signal.SIGINT) == 0, stack.tail()
        after = _files_with(stack.home, needle)
        printed = [
            f"runner {' '.join(r.args)}"
            for r in stack.transcript
            if password in r.stdout or password in r.stderr
        ]
        printed += [
            f"runner up ({log.name})"
            for log in sorted(stack.root.glob("up-*.log"))
            if password in log.read_text(errors="replace")
        ]
        leaks = sorted(set(while_up) | set(after))
        assert not leaks, f"the password is written in {leaks}"
        assert not printed, f"the password is printed by {printed}"
    t.verdict()
