"""Resource quantities and durations as users write them on tasks.

CPU and memory are Kubernetes quantities (``"500m"``, ``"2"``, ``"4Gi"``,
``"1e3"``) kept as strings in the spec so executors can pass them through
unchanged; durations (``"10s"``, ``"1h30m"`` or a number of seconds) become
float seconds. Every check raises :class:`~runner.errors.ValidationError`
naming ``what`` was being set.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from runner.errors import ValidationError

__all__ = [
    "accelerator_label",
    "cpu_quantity",
    "gpu_count",
    "memory_quantity",
    "parse_duration",
    "parse_quantity",
]

_QUANTITY = re.compile(
    r"^(?P<number>\+?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "": Decimal(1)} | {
    s: Decimal(10) ** (3 * (i + 1)) for i, s in enumerate("kMGTPE")
}
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_quantity(text: str) -> Decimal:
    """The value of a non-negative Kubernetes quantity (``"4Gi"`` → 4294967296)."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValidationError(f"{text!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    try:
        return number.scaleb(int(suffix[1:]))
    except InvalidOperation as exc:  # an absurd exponent
        raise ValidationError(f"{text!r} is not a usable Kubernetes quantity") from exc


def _quantity(value: object, what: str, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{what} must be a Kubernetes quantity string such as {example}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValidationError(f"{what} must be a non-negative number, got {value!r}")
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
    else:
        text = value.strip()
    try:
        parse_quantity(text)
    except ValidationError:
        raise ValidationError(
            f"{what} {value!r} is not a Kubernetes quantity: write a number with an "
            f"optional suffix (m, k, M, G, Ki, Mi, Gi...) such as {example}"
        ) from None
    return text


def cpu_quantity(value: str | float, what: str = "cpu") -> str:
    """A CPU request: ``"500m"``, ``"2"``, ``0.5``."""
    return _quantity(value, what, "'500m', '2' or 0.5")


def memory_quantity(value: str | float, what: str = "memory") -> str:
    """A memory request: ``"4Gi"``, ``"512M"``, ``"1e9"``; ``"512m"`` is refused."""
    text = _quantity(value, what, "'4Gi' or '512Mi'")
    if text.endswith("m"):
        # Valid Kubernetes, but "m" is milli: 512m of memory is half a byte.
        raise ValidationError(
            f"{what} {value!r} means milli-bytes; write {text[:-1]}Mi or {text[:-1]}M"
        )
    return text


def gpu_count(value: object, what: str = "gpu") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def accelerator_label(value: object, what: str = "accelerator") -> str:
    """An accelerator type; it becomes a node-selector label value, so it must be one."""
    if not isinstance(value, str) or not _LABEL.match(value):
        raise ValidationError(
            f"{what} {value!r} is not a valid label value: use at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit "
            "(e.g. 'nvidia-h100')"
        )
    return value


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number or a string like ``"10s"``, ``"5m"``, ``"1h30m"``, ``"2d"``."""
    if isinstance(value, str) and _SECONDS.match(value.strip()):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        parts = _DURATION_PART.findall(value.strip())
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValidationError(
            f"{what} {value!r} is not a duration: use seconds (30, 0.5) or a string "
            "like '10s', '5m', '1h' or '1h30m' (units ms, s, m, h, d)"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(f"{what} must be a non-negative duration, got {value!r}")
    return seconds
