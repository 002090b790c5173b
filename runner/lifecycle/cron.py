"""Cron expressions: five fields, as in crontab(5), evaluated in UTC.

``minute hour day-of-month month day-of-week``; each field a list of ``*``,
``N``, ``A-B`` with an optional ``/STEP`` (``*/15``, ``1-5/2``, ``10/20``);
months and weekdays also by name (``jan``, ``mon-fri``); weekday 0 and 7 are
Sunday; and the macros ``@yearly`` ``@monthly`` ``@weekly`` ``@daily``
``@hourly``. As in Vixie cron, when both day fields are restricted a day
matches if either does.

Written here rather than taken from a library: ``croniter`` is in
maintenance mode, and a parser of our own can say *where* an expression is
wrong (the field and the part), which is what a user fixing one needs. It is
pure (no clock reads: times come in), so schedules are tested with a fake
clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runner.errors import ValidationError

__all__ = ["CronError", "CronExpression", "parse_cron"]

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_YEARS = 8
"""A valid expression fires within this many years (Feb 29 on a Monday: < 8)."""


class CronError(ValidationError):
    """A cron expression that does not parse, or never fires."""


@dataclass(frozen=True)
class CronExpression:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday ... 6 = Saturday (7 is folded into 0)."""
    days_restricted: bool
    weekdays_restricted: bool

    def _day_matches(self, when: datetime) -> bool:
        in_month = when.day in self.days
        in_week = (when.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def next_after(self, when: datetime) -> datetime:
        """The first tick strictly after ``when`` (same timezone as ``when``)."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = _next_month(t)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError(f"cron expression {self.text!r} never fires (no such date)")

    def ticks_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Ticks in ``(start, end]``, at most the *last* ``limit`` of them, oldest first."""
        found: list[datetime] = []
        t = self.next_after(start)
        while t <= end:
            found.append(t)
            if len(found) > limit:
                found.pop(0)
            t = self.next_after(t)
        return found


def _next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0)


def parse_cron(text: str) -> CronExpression:
    """Parse ``text``; :class:`CronError` names the field and the part that is wrong."""
    source = " ".join(text.split())
    expanded = _MACROS.get(source.lower(), source)
    if expanded.startswith("@"):
        raise CronError(
            f"cron expression {text!r}: unknown macro {expanded!r} (use one of "
            f"{', '.join(sorted(_MACROS))})"
        )
    fields = expanded.split(" ")
    if len(fields) != 5:
        raise CronError(
            f"cron expression {text!r} has {len(fields)} field(s), not 5: "
            "minute hour day-of-month month day-of-week (e.g. '0 3 * * *': 03:00 daily)"
        )
    sets = [_field(text, i, f) for i, f in enumerate(fields)]
    weekdays = frozenset(d % 7 for d in sets[4])
    expression = CronExpression(
        text=source,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )
    expression.next_after(datetime(2000, 1, 1))  # refuses what never fires
    return expression


def _field(text: str, index: int, field: str) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in field.split(","):
        try:
            values.update(_part(part, index, low, high))
        except ValueError as exc:
            raise CronError(
                f"cron expression {text!r}: {_FIELDS[index]} (field {index + 1} of 5) "
                f"{part!r}: {exc}"
            ) from None
    return frozenset(values)


def _part(part: str, index: int, low: int, high: int) -> range:
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"step {step_text!r} is not a positive number")
        step = int(step_text)
    if base == "*":
        return range(low, high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _value(first_text, index, low, high)
    last = _value(last_text, index, low, high) if dash else (high if slash else first)
    if last < first:
        raise ValueError(f"range {first}-{last} runs backwards: write the smaller number first")
    return range(first, last + 1, step)


def _value(text: str, index: int, low: int, high: int) -> int:
    names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        hint = " or a name like jan" if index == 3 else " or a name like mon" if index == 4 else ""
        raise ValueError(f"{text!r} is not a number{hint}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range {low}-{high}")
    return value
