"""As PID 1 (a container), the step gives SIGTERM its usual meaning."""

from __future__ import annotations

import os
import signal

import pytest

from runner.step import main as step_main


def test_as_pid_1_sigterm_exits_143(monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGTERM)
    exits: list[int] = []
    monkeypatch.setattr(os, "getpid", lambda: 1)
    monkeypatch.setattr(os, "_exit", exits.append)
    try:
        step_main._exit_on_sigterm_as_pid_1()
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)
        assert exits == [143]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_elsewhere_sigterm_keeps_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGTERM)
    step_main._exit_on_sigterm_as_pid_1()
    assert signal.getsignal(signal.SIGTERM) is before
