"""A step's reports ride out a NATS outage: retried with backoff until a deadline."""

from __future__ import annotations

from pathlib import Path

import nats.js.errors
import pytest

from runner.errors import BusError, BusUnavailableError
from runner.events import Event
from runner.events.models import ErrorInfo
from runner.step import report
from runner.step.report import REPORTED_MARKER, Reporter
from tests.unit.executors.requests import make_request


class FlakyBus:
    """Fails the first ``failures`` publishes with ``error``, then accepts them."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.tries: list[Event] = []
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.tries.append(event)
        if len(self.tries) <= self.failures:
            raise self.error
        self.published.append(event)

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "FIRST_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(report, "MAX_BACKOFF_SECONDS", 0.02)


def _unavailable() -> BusUnavailableError:
    return BusUnavailableError("publish: lost the connection to NATS at nats://x:1")


async def test_a_report_is_retried_until_nats_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = FlakyBus(failures=3, error=_unavailable())
    reporter = Reporter(make_request(state_dir=str(tmp_path)), bus, deadline=5)
    await reporter.failed(ErrorInfo(reason="Boom", message="it broke"), 1.0)
    assert len(bus.tries) == 4
    assert len(bus.published) == 1
    assert {event.id for event in bus.tries} == {bus.published[0].id}, "one event, one id"
    assert (tmp_path / REPORTED_MARKER).read_text() == "failed"
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, "one warning per outage, not per try"
    assert "retrying for up to 5s" in warnings[0].getMessage()


async def test_it_gives_up_at_the_deadline_and_leaves_no_marker(tmp_path: Path) -> None:
    bus = FlakyBus(failures=10**6, error=_unavailable())
    reporter = Reporter(make_request(state_dir=str(tmp_path)), bus, deadline=0.2)
    with pytest.raises(BusUnavailableError):
        await reporter.started(host="h", pid=1)
    assert 2 <= len(bus.tries) < 100
    assert bus.published == []
    assert not (tmp_path / REPORTED_MARKER).exists()


async def test_a_permanent_bus_error_is_not_retried() -> None:
    bus = FlakyBus(failures=1, error=BusError("publish: the message is larger than max_payload"))
    with pytest.raises(BusError, match="max_payload"):
        await Reporter(make_request(), bus, deadline=5).started(host="h", pid=1)
    assert len(bus.tries) == 1


async def test_no_stream_just_after_a_server_restart_is_retried() -> None:
    error = BusError("publish: no JetStream stream stores this subject")
    error.__cause__ = nats.js.errors.NoStreamResponseError()
    bus = FlakyBus(failures=2, error=error)
    await Reporter(make_request(), bus, deadline=5).started(host="h", pid=1)
    assert len(bus.published) == 1
