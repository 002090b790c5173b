"""Cron expressions: five fields, as in crontab(5), evaluated in UTC.

``minute hour day-of-month month day-of-week``; each field a list of ``*``,
``N``, ``A-B`` with an optional ``/STEP`` (``*/15``, ``1-5/2``, ``10/20``);
months and weekdays also by name (``jan``, ``mon-fri``); weekday 0 and 7 are
Sunday; and the macros ``@yearly`` ``@monthly`` ``@weekly`` ``@daily``
``@hourly``. As in Vixie cron, when both day fields are restricted a day
matches if either does (a field that starts with ``*`` counts as
unrestricted).

The ticks are croniter's. What is ours is a thin check in front of it that
keeps to the five-field grammar above (croniter also takes seconds, years,
``L``, ``W``, ``#`` and wrapping ranges) and says *where* an expression is
wrong (the field and the part), which croniter's messages do not. It is pure
(no clock reads: times come in), so schedules are tested with a fake clock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import CroniterBadDateError, CroniterError, croniter
from croniter.croniter import DOW_ALPHAS, M_ALPHAS

from runner.errors import ValidationError

__all__ = ["CronError", "CronExpression", "parse_cron"]

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MACROS = ("@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly")
"""croniter's macros, named here for the error that lists them."""


class CronError(ValidationError):
    """A cron expression that does not parse, or never fires."""


@dataclass(frozen=True)
class CronExpression:
    text: str
    """The expression as written (whitespace folded)."""
    spec: str
    """What croniter reads: the same schedule, spelled so croniter means what cron does."""

    def _ticks(self, start: datetime) -> croniter[datetime]:
        # implement_cron_bug: a day field that starts with '*' is unrestricted (Vixie cron).
        return croniter(self.spec, start, datetime, implement_cron_bug=True)

    def next_after(self, when: datetime) -> datetime:
        """The first tick strictly after ``when`` (same timezone as ``when``)."""
        try:
            return self._ticks(when).get_next(datetime).replace(fold=0)
        except CroniterBadDateError:
            raise CronError(f"cron expression {self.text!r} never fires (no such date)") from None

    def ticks_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Ticks in ``(start, end]``, at most the *last* ``limit`` of them, oldest first."""
        # Walk back from just after `end` (so a tick at `end` counts): only `limit` steps.
        back = self._ticks(end + timedelta(microseconds=1)).all_prev(datetime)
        latest = itertools.islice(itertools.takewhile(lambda t: t > start, back), limit)
        return sorted(t.replace(fold=0) for t in latest)


def parse_cron(text: str) -> CronExpression:
    """Parse ``text``; :class:`CronError` names the field and the part that is wrong."""
    source = " ".join(text.split())
    if source.startswith("@"):
        if source.lower() not in _MACROS:
            raise CronError(
                f"cron expression {text!r}: unknown macro {source!r} (use one of "
                f"{', '.join(_MACROS)})"
            )
        spec = source
    else:
        spec = _spec(text, source)
    expression = CronExpression(text=source, spec=spec)
    try:
        expression.next_after(datetime(2000, 1, 1))  # refuses what never fires
    except CroniterError as exc:  # our grammar is within croniter's: not expected
        raise CronError(f"cron expression {text!r}: {exc}") from None
    return expression


def _spec(text: str, source: str) -> str:
    fields = source.split(" ")
    if len(fields) != 5:
        raise CronError(
            f"cron expression {text!r} has {len(fields)} field(s), not 5: "
            "minute hour day-of-month month day-of-week (e.g. '0 3 * * *': 03:00 daily)"
        )
    spelled = []
    for index, field in enumerate(fields):
        parts = []
        for part in field.split(","):
            try:
                parts.append(_part(part, index))
            except ValueError as exc:
                raise CronError(
                    f"cron expression {text!r}: {_FIELDS[index]} (field {index + 1} of 5) "
                    f"{part!r}: {exc}"
                ) from None
        spelled.append(",".join(parts))
    # Vixie cron ORs the day fields when neither starts with '*', even when one of them
    # names every day (so every day matches); croniter ANDs them when one expands to all.
    if not fields[2].startswith("*") and not fields[4].startswith("*"):
        expanded = croniter.expand(" ".join(spelled))[0]
        if "*" in (expanded[2][0], expanded[4][0]):
            spelled[2] = spelled[4] = "*"
    return " ".join(spelled)


def _part(part: str, index: int) -> str:
    """Check one part; spell it as ``*[/S]``, ``N`` or ``A-B[/S]`` with A < B.

    croniter reads ``A-A`` as the whole cycle and ``N/S`` from its own start; cron does not.
    """
    base, slash, step = part.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"step {step!r} is not a positive number")
    if base == "*":
        return part
    first_text, dash, last_text = base.partition("-")
    first = _value(first_text, index)
    last = _value(last_text, index) if dash else (_RANGES[index][1] if slash else first)
    if last < first:
        raise ValueError(f"range {first}-{last} runs backwards: write the smaller number first")
    return str(first) if first == last else f"{first}-{last}{slash}{step}"


def _value(text: str, index: int) -> int:
    names = M_ALPHAS if index == 3 else DOW_ALPHAS if index == 4 else {}
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        hint = " or a name like jan" if index == 3 else " or a name like mon" if index == 4 else ""
        raise ValueError(f"{text!r} is not a number{hint}")
    low, high = _RANGES[index]
    if not low <= (value := int(text)) <= high:
        raise ValueError(f"{value} is out of range {low}-{high}")
    return value
