"""Pieces of the step process that need no server: signal handlers, exit reports."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from runner.step.main import _error_from_exception, _signal_handlers_restored


def _handler(signum: int, frame: FrameType | None) -> None:
    pass


def test_handlers_a_component_installs_are_undone_when_it_returns() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    with _signal_handlers_restored():
        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is _handler
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


def test_handlers_are_undone_when_the_component_raises() -> None:
    before = signal.getsignal(signal.SIGTERM)
    try:
        with _signal_handlers_restored():
            signal.signal(signal.SIGTERM, _handler)
            raise SystemExit(143)
    except SystemExit:
        pass
    assert signal.getsignal(signal.SIGTERM) is before


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_sys_exit_is_reported_with_its_code_and_where_it_was_called() -> None:
    try:
        sys.exit(3)
    except SystemExit as exc:
        error = _error_from_exception(exc, "train")
    assert error.reason == "SystemExit"
    assert error.type == "SystemExit"
    assert error.exit_code == 3
    assert "component 'train' called sys.exit(3)" in error.message
    assert "raising an exception" in error.message  # the fix
    assert error.traceback is not None
    assert "sys.exit(3)" in error.traceback


def test_a_non_integer_exit_and_an_interrupt_have_their_own_reasons() -> None:
    text = _error_from_exception(_raised(SystemExit("bad flag")), "prep")
    assert (text.reason, text.exit_code) == ("SystemExit", None)
    assert "sys.exit('bad flag')" in text.message
    interrupted = _error_from_exception(_raised(KeyboardInterrupt()), "prep")
    assert (interrupted.reason, interrupted.type) == ("Interrupted", "KeyboardInterrupt")
    assert "component 'prep' was interrupted" in interrupted.message


def test_an_exception_keeps_its_type_message_and_traceback_tail() -> None:
    error = _error_from_exception(_raised(ValueError("column 'age' has -3")), "clean")
    assert (error.reason, error.type, error.message) == (
        "Exception",
        "ValueError",
        "column 'age' has -3",
    )
    assert error.traceback is not None
    assert error.traceback.endswith("ValueError: column 'age' has -3")
