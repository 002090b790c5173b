"""Parameter templates: ``{{ object.uri }}``, ``{{ object.key | basename }}``.

A deliberately tiny language, parsed by one regular expression and rendered
by dictionary lookups: a fixed set of variables (:data:`VARIABLES`) and
filters (:data:`FILTERS`), no attribute access, calls, loops or ``eval``, so
a template stored in a trigger can never run code. Mistakes (an unknown
variable or filter, a stray ``{{``) are found when the trigger is added.

A value that is exactly one expression keeps the variable's type
(``"{{ object.size }}"`` renders the integer 48213); anything else renders
to a string.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import JsonValue

from runner.errors import ValidationError
from runner.triggers.models import ObjectEvent

__all__ = ["FILTERS", "VARIABLES", "Template", "TemplateError", "namespace", "render_parameters"]

VARIABLES = {
    "object.uri": "s3://<bucket>/<key>, the key decoded",
    "object.key": "the object key, decoded",
    "object.bucket": "the bucket name",
    "object.size": "size in bytes (an integer)",
    "object.etag": "the ETag, without quotes",
    "object.version": "the version id ('' when the bucket is not versioned)",
    "object.sequencer": "the notification's sequencer ('' for a poll)",
    "event.time": "when the object was written (RFC 3339)",
    "event.name": "the S3 event name, e.g. s3:ObjectCreated:Put",
    "trigger.name": "the trigger's name",
}


def _stem(value: str) -> str:
    base = posixpath.basename(value)
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


FILTERS: dict[str, Callable[[str], str]] = {
    "basename": posixpath.basename,
    "dirname": posixpath.dirname,
    "stem": _stem,
    "lower": str.lower,
    "upper": str.upper,
    "urlencode": lambda v: quote(v, safe="/"),
}

_EXPR = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)*)\s*((?:\|\s*[a-z_]+\s*)*)\}\}")


class TemplateError(ValidationError):
    """A parameter template uses something that does not exist."""


@dataclass(frozen=True)
class _Expr:
    variable: str
    filters: tuple[str, ...]

    def value(self, names: Mapping[str, JsonValue]) -> JsonValue:
        value = names[self.variable]
        for name in self.filters:
            value = FILTERS[name]("" if value is None else str(value))
        return value


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and expressions, in order."""

    source: str
    parts: tuple[str | _Expr, ...]

    @classmethod
    def compile(cls, text: str, where: str = "template") -> Template:
        parts: list[str | _Expr] = []
        pos = 0
        for match in _EXPR.finditer(text):
            parts.append(text[pos : match.start()])
            parts.append(_expression(match, text, where))
            pos = match.end()
        parts.append(text[pos:])
        for literal in (p for p in parts if isinstance(p, str)):
            if "{{" in literal or "}}" in literal:
                raise TemplateError(
                    f"{where} {text!r} has an unclosed or malformed '{{{{ ... }}}}': write "
                    "e.g. {{ object.uri }} or {{ object.key | basename }}"
                )
        return cls(text, tuple(p for p in parts if p != ""))

    @property
    def is_template(self) -> bool:
        return any(isinstance(p, _Expr) for p in self.parts)

    def render(self, names: Mapping[str, JsonValue]) -> JsonValue:
        if len(self.parts) == 1 and isinstance(self.parts[0], _Expr):
            return self.parts[0].value(names)  # typed: {{ object.size }} stays an int
        out = []
        for part in self.parts:
            value = part if isinstance(part, str) else part.value(names)
            out.append("" if value is None else str(value))
        return "".join(out)


def _expression(match: re.Match[str], text: str, where: str) -> _Expr:
    variable = match[1]
    if variable not in VARIABLES:
        raise TemplateError(
            f"{where} {text!r} uses unknown variable {variable!r}; known: {', '.join(VARIABLES)}"
        )
    filters = tuple(f.strip() for f in match[2].split("|")[1:])
    for name in filters:
        if name not in FILTERS:
            raise TemplateError(
                f"{where} {text!r} uses unknown filter {name!r}; known: {', '.join(FILTERS)}"
            )
    return _Expr(variable, filters)


def namespace(obj: ObjectEvent, trigger: str, now: datetime) -> dict[str, JsonValue]:
    """The values templates may use, for one object."""
    when = obj.time or now
    return {
        "object.uri": obj.uri,
        "object.key": obj.key,
        "object.bucket": obj.bucket,
        "object.size": obj.size,
        "object.etag": obj.etag or "",
        "object.version": obj.version_id or "",
        "object.sequencer": obj.sequencer or "",
        "event.time": when.isoformat(),
        "event.name": obj.event_name,
        "trigger.name": trigger,
    }


def render_parameters(
    parameters: Mapping[str, Any], names: Mapping[str, JsonValue]
) -> dict[str, JsonValue]:
    """Each string parameter rendered as a template; other JSON values as they are."""
    out: dict[str, JsonValue] = {}
    for name, value in parameters.items():
        if isinstance(value, str):
            out[name] = Template.compile(value, f"parameter {name!r}").render(names)
        else:
            out[name] = value
    return out
