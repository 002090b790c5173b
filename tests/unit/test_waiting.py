"""The test suite's one wait helper: what it returns, and what a timed-out wait says."""

from __future__ import annotations

import pytest

from tests.waiting import until, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, [], "found", "later"])
    assert wait_until(lambda: next(values), "a value", 5, interval=0) == "found"


def test_a_timed_out_wait_names_what_how_long_the_last_value_and_the_detail() -> None:
    with pytest.raises(AssertionError) as caught:
        wait_until(lambda: [], "the thing", 0.01, interval=0.001, detail=lambda: "log tail")
    assert str(caught.value) == (
        "timed out after 0.01s waiting for the thing (last seen: [])\nlog tail"
    )


def test_a_false_or_none_is_not_shown_as_the_last_value() -> None:
    for last in (False, None):
        with pytest.raises(AssertionError, match=r"^timed out after 0s waiting for x$"):
            wait_until(lambda v=last: v, "x", 0, interval=0)


def test_a_condition_that_raises_fails_the_wait_at_once() -> None:
    def dead() -> bool:
        raise RuntimeError("the process died")

    with pytest.raises(RuntimeError, match="the process died"):
        wait_until(dead, "the process", 60)


class Progress:
    """Falsy, with a long repr: what a condition may return while not there yet."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "p" * 1000


def test_a_long_last_value_is_cut_short() -> None:
    with pytest.raises(AssertionError) as caught:
        wait_until(Progress, "progress", 0, interval=0)
    assert (
        str(caught.value) == f"timed out after 0s waiting for progress (last seen: {'p' * 300}...)"
    )


async def test_until_takes_sync_and_async_conditions_and_returns_the_value() -> None:
    values = iter([0, 0, 7])

    async def later() -> int:
        return next(values)

    assert await until(later, "seven", 5, interval=0) == 7
    assert await until(lambda: "now", "now", 5) == "now"


async def test_until_awaits_pause_between_looks() -> None:
    pauses: list[int] = []
    values = iter([False, False, True])

    async def pause() -> None:
        pauses.append(1)

    assert await until(lambda: next(values), "the third look", 5, pause=pause) is True
    assert len(pauses) == 2


async def test_until_fails_at_the_deadline_naming_what() -> None:
    with pytest.raises(AssertionError, match=r"^timed out after 0.02s waiting for the run$"):
        await until(lambda: False, "the run", 0.02, interval=0.001)
