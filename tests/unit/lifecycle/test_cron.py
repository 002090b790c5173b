"""Cron expressions: fields, ranges, steps, lists, names, macros; next ticks; errors say where."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner.lifecycle.cron import CronError, parse_cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", "2026-01-01T10:07", "2026-01-01T10:15"),
        ("0 3 * * *", "2026-01-01T03:00", "2026-01-02T03:00"),
        ("30 9 * * mon-fri", "2026-01-02T10:00", "2026-01-05T09:30"),  # Fri -> Mon
        ("0 0 1 jan,jul *", "2026-02-01T00:00", "2026-07-01T00:00"),
        ("5-10/5 1 * * *", "2026-01-01T01:05", "2026-01-01T01:10"),
        ("10/20 * * * *", "2026-01-01T00:31", "2026-01-01T00:50"),
        ("@hourly", "2026-01-01T00:00", "2026-01-01T01:00"),
        ("@weekly", "2026-01-01T00:00", "2026-01-04T00:00"),  # Sunday
        ("0 0 * * 7", "2026-01-01T00:00", "2026-01-04T00:00"),  # 7 is Sunday too
        ("0 0 29 2 *", "2026-03-01T00:00", "2028-02-29T00:00"),
        # Both day fields restricted: either matches (the 13th, or a Friday).
        ("0 0 13 * fri", "2026-01-01T00:00", "2026-01-02T00:00"),
        ("0 0 31 12 *", "2026-12-31T00:00", "2027-12-31T00:00"),
    ],
)
def test_next_tick(expr: str, after: str, expected: str) -> None:
    assert parse_cron(expr).next_after(at(after)) == at(expected)


def test_next_tick_is_strictly_after_and_ignores_seconds() -> None:
    cron = parse_cron("* * * * *")
    assert cron.next_after(at("2026-01-01T00:00:59.5")) == at("2026-01-01T00:01")


def test_ticks_between_keeps_the_latest_when_bounded() -> None:
    cron = parse_cron("0 * * * *")
    ticks = cron.ticks_between(at("2026-01-01T00:00"), at("2026-01-01T05:30"), limit=3)
    assert ticks == [at("2026-01-01T03:00"), at("2026-01-01T04:00"), at("2026-01-01T05:00")]
    assert cron.ticks_between(at("2026-01-01T00:00"), at("2026-01-01T00:59"), limit=3) == []


@pytest.mark.parametrize(
    ("expr", "where"),
    [
        ("0 25 * * *", "hour (field 2 of 5) '25': 25 is out of range 0-23"),
        ("61 * * * *", "minute (field 1 of 5) '61'"),
        ("* * 0 * *", "day-of-month (field 3 of 5) '0'"),
        ("* * * foo *", "month (field 4 of 5) 'foo': 'foo' is not a number or a name like jan"),
        ("* * * * 1-x", "day-of-week (field 5 of 5) '1-x'"),
        ("*/0 * * * *", "step '0' is not a positive number"),
        ("10-5 * * * *", "range 10-5 runs backwards"),
        ("0 0 * *", "has 4 field(s), not 5"),
        ("@sometimes", "unknown macro"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_errors_say_where(expr: str, where: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(expr)
    assert where in str(caught.value)
    assert repr(expr) in str(caught.value) or expr.startswith("@")


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # croniter reads A-A as the whole cycle and 7/S from Sunday; cron does not.
        ("5-5 * * * *", "2026-01-01T00:00", "2026-01-01T00:05"),
        ("0 9-9/2 * * *", "2026-01-01T10:00", "2026-01-02T09:00"),
        ("0 0 * * 7/2", "2026-01-01T00:00", "2026-01-04T00:00"),  # Sundays only
        # Neither day field starts with '*': OR, even when one names every day.
        ("0 0 13 * mon,*", "2026-01-01T00:00", "2026-01-02T00:00"),
        ("0 0 1-31 * mon", "2026-01-01T00:00", "2026-01-02T00:00"),
        # A day field starting with '*' is unrestricted: AND.
        ("0 0 */2 * mon", "2026-01-01T00:00", "2026-01-05T00:00"),
        # A gap of more than 8 years between ticks (1 January on a Sunday).
        ("0 0 */31 1 sun", "2023-01-02T00:00", "2034-01-01T00:00"),
    ],
)
def test_next_tick_as_cron_means_it(expr: str, after: str, expected: str) -> None:
    assert parse_cron(expr).next_after(at(after)) == at(expected)


def test_ticks_between_a_long_window_walks_back_only_limit_ticks() -> None:
    cron = parse_cron("* * * * *")
    ticks = cron.ticks_between(at("2016-01-01T00:00"), at("2026-01-01T00:00"), limit=2)
    assert ticks == [at("2025-12-31T23:59"), at("2026-01-01T00:00")]
    assert cron.ticks_between(at("2026-01-01T00:00"), at("2026-01-01T00:00"), limit=2) == []


@pytest.mark.parametrize(
    ("expr", "where"),
    [
        ("0 0 L * *", "day-of-month (field 3 of 5) 'L': 'L' is not a number"),
        ("0 0 * * 5#3", "day-of-week (field 5 of 5) '5#3'"),
        ("0 0 * * fri-mon", "range 5-1 runs backwards"),
        ("0 0 * * * 30", "has 6 field(s), not 5"),
    ],
)
def test_croniter_extensions_are_refused(expr: str, where: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(expr)
    assert where in str(caught.value)
