"""CloudEvents codec: :class:`~runner.events.envelope.Event` <-> NATS message.

Pure: bytes and header dicts in, bytes and header dicts out, no I/O. The
``cloudevents`` SDK does the (de)serialisation; this module adds what the SDK
cannot know — which types exist, which extensions are required, which names
are safe — so that anything a consumer gets from :func:`decode` has been fully
validated. Nothing in an event is ever executed or used as a path unchecked.

Encoding is always structured mode (the body is the whole CloudEvent as JSON).
Decoding accepts structured mode and binary mode (``ce-*`` headers, the body
is the ``data``), so producers that speak binary CloudEvents can publish too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import pydantic
from cloudevents.conversion import to_structured
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http

from runner.errors import EventError, InvalidNameError
from runner.events.envelope import Event
from runner.events.kinds import EventKind, validate_name, validate_step_name
from runner.events.models import DATA_MODELS

__all__ = ["CONTENT_TYPE", "MSG_ID_HEADER", "decode", "encode"]

CONTENT_TYPE = "application/cloudevents+json"
"""``Content-Type`` of a structured-mode message."""
MSG_ID_HEADER = "Nats-Msg-Id"
"""JetStream's dedup header: the event id — for a signed event, the id plus the
start of its signature (:func:`msg_id`)."""

# Ids become a NATS header value and a KV-recorded "applied" marker, so no
# whitespace or control characters (a CR/LF would split the header block).
_ID = re.compile(r"^[\x21-\x7e]{1,512}$")
# W3C trace context: an invalid traceparent must be ignored, not fail the event.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_JSON_TYPES = ("application/json", "text/json")
AUTH_EXTENSION = "runnerauth"
"""CloudEvent extension carrying an attempt's report signature."""
_AUTH = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_REQUIRED = ("specversion", "id", "source", "type", "time")
MAX_REASON_CHARS = 1000
"""Longest :class:`EventError` message :func:`decode` raises (values it echoes are cut)."""


def encode(event: Event) -> tuple[bytes, dict[str, str]]:
    """Serialise ``event`` as a structured-mode CloudEvent.

    Returns the message body and the NATS headers (content type and the
    ``Nats-Msg-Id`` dedup id). A naive ``time`` is taken to be UTC.
    """
    time = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": time.isoformat(),
        "datacontenttype": "application/json",
        "runid": event.run_id,
        "pipeline": event.pipeline,
    }
    optional = {"subject": event.step, "traceparent": event.traceparent}
    optional["tracestate"] = event.tracestate
    optional[AUTH_EXTENSION] = event.auth
    attributes.update({k: v for k, v in optional.items() if v is not None})
    # data_json(), not the model dump: ``Event.data`` is typed as the base
    # model, so pydantic's own serialisation of Event would drop its fields.
    _, body = to_structured(CloudEvent(attributes, event.data_json()))
    return body, {"Content-Type": CONTENT_TYPE, MSG_ID_HEADER: msg_id(event)}


def msg_id(event: Event) -> str:
    """The dedup id of ``event`` on JetStream.

    The event id, so a re-published fact is dropped. A signed event's id gets the
    first 16 hex digits of its signature appended: someone who publishes a forgery
    under the real report's id first must not make JetStream drop the real one as
    its duplicate (the forgery is dead-lettered; the real report still arrives).
    """
    if event.auth is None:
        return event.id
    return f"{event.id}~{event.auth.rpartition('.')[2][:16]}"


def decode(body: bytes, headers: Mapping[str, str] | None = None) -> Event:
    """Parse and validate a NATS message as a runner event.

    Raises :class:`~runner.errors.EventError` saying what is wrong: not JSON,
    not a CloudEvent, an unknown type, a missing or invalid extension, a bad
    step name, or ``data`` that does not match the kind's model. It raises
    nothing else, whatever the input (a consumer must survive any message),
    and the message is at most :data:`MAX_REASON_CHARS` long: echoed values
    are shortened.
    """
    try:
        return _decode(body, headers)
    except EventError as exc:
        text = str(exc)
        shown = _short(_printable(text), MAX_REASON_CHARS - 3)
        if shown == text:
            raise
        raise EventError(shown) from exc
    except Exception as exc:  # the contract: EventError for any input
        raise EventError(
            f"message is not a valid runner event: decoding it raised "
            f"{type(exc).__name__} ({_short(_printable(str(exc)), 200)})"
        ) from exc


def _decode(body: bytes, headers: Mapping[str, str] | None) -> Event:
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    binary = "ce-specversion" in lowered
    if not binary:
        _precheck_structured(body)
    try:
        ce = from_http(lowered, body)
    except GenericException as exc:
        raise EventError(f"message is not a CloudEvent: {_short(str(exc))}") from exc
    attrs: dict[str, Any] = dict(ce.get_attributes())
    if binary and "ce-time" not in lowered:
        attrs.pop("time", None)  # the SDK invents "now"; a fact needs its own time
    event = _to_event(attrs, ce.get_data())
    if b"\\u" in body:  # only a JSON escape can make a lone surrogate
        _check_unicode(event)
    return event


def _check_unicode(event: Event) -> None:
    """Text that is not valid Unicode (a lone UTF-16 surrogate such as ``"\\udc80"``)
    could be parsed but never written back (run state, logs, headers)."""
    try:
        json.dumps([event.source, event.tracestate, event.data_json()], ensure_ascii=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError as exc:
        raise EventError(
            f"event {event.id!r} of type {event.type}: its text is not valid Unicode "
            f"(a lone surrogate, {_printable(exc.object[exc.start : exc.end])}); "
            "send UTF-8 text"
        ) from exc


def _printable(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates become ``\\udc80`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _precheck_structured(body: bytes) -> None:
    """Give precise messages for what the SDK reports vaguely (or not at all:
    it raises ``ValueError``/``TypeError`` for attributes of the wrong JSON type)."""
    try:
        raw = json.loads(body)
    except RecursionError as exc:
        raise EventError(
            "message body is JSON nested too deeply to read; runner events are "
            "CloudEvent objects a few levels deep"
        ) from exc
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise EventError(
            f"message body is not JSON ({_short(str(exc), 120)}); runner events are "
            "structured-mode CloudEvents (Content-Type: application/cloudevents+json) or "
            "binary-mode with ce-* headers"
        ) from exc
    if not isinstance(raw, dict):
        raise EventError(f"message body is JSON {type(raw).__name__}, not a CloudEvent object")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise EventError(f"message is not a CloudEvent: missing attribute(s) {', '.join(missing)}")
    wrong = [k for k in _REQUIRED if not isinstance(raw[k], str)]
    if wrong:
        got = ", ".join(f"{k} is {_json_type(raw[k])}" for k in wrong)
        raise EventError(f"message is not a CloudEvent: {got}; these attributes are strings")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _to_event(attrs: dict[str, Any], data: Any) -> Event:
    event_id = attrs.get("id")
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise EventError(
            f"event id {_short(repr(event_id))} is invalid: use 1-512 printable "
            "ASCII characters without spaces"
        )
    ce_type = str(attrs.get("type"))
    shown_id = _short(repr(event_id), 120)
    where = f"event {shown_id} of type {_short(ce_type, 80)}"
    try:
        kind = EventKind.from_type(ce_type)
    except ValueError as exc:
        known = ", ".join(k.type for k in EventKind)
        raise EventError(
            f"event {shown_id}: unknown type {_short(repr(ce_type), 80)}; known: {known}"
        ) from exc
    if attrs.get("specversion") != "1.0":
        shown = _short(repr(attrs.get("specversion")), 40)
        raise EventError(f"{where}: specversion {shown} is not 1.0")
    _check_content_type(attrs, where)
    if "time" not in attrs:
        raise EventError(f"{where}: missing attribute time (RFC 3339 timestamp)")
    names = _validated_names(attrs, kind, where)
    return _build(attrs, kind, names, data, where)


def _check_content_type(attrs: Mapping[str, Any], where: str) -> None:
    content_type = str(attrs.get("datacontenttype") or "application/json").lower()
    media = content_type.split(";", 1)[0].strip()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise EventError(
            f"{where}: datacontenttype {_short(repr(content_type), 80)} is not supported; "
            "runner event data is application/json"
        )


def _validated_names(attrs: Mapping[str, Any], kind: EventKind, where: str) -> dict[str, Any]:
    """Check the extensions and subject that become subject tokens and paths."""
    names: dict[str, Any] = {}
    try:
        for attr, what in (("runid", "run id"), ("pipeline", "pipeline")):
            if attr not in attrs:
                raise EventError(f"{where}: missing extension {attr!r} ({what})")
            names[attr] = validate_name(attrs[attr], what)
        step = attrs.get("subject")
        if step is None and kind.is_step:
            raise EventError(f"{where}: missing attribute 'subject' (the step name)")
        names["subject"] = None if step is None else validate_step_name(step)
    except InvalidNameError as exc:
        raise EventError(f"{where}: {exc}") from exc
    return names


def _build(
    attrs: Mapping[str, Any], kind: EventKind, names: Mapping[str, Any], data: Any, where: str
) -> Event:
    try:
        payload = DATA_MODELS[kind].model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        raise EventError(f"{where}: data invalid: {_errors(exc)}") from exc
    traceparent = attrs.get("traceparent")
    if not (isinstance(traceparent, str) and _TRACEPARENT.match(traceparent)):
        traceparent = None
    tracestate = attrs.get("tracestate") if traceparent else None
    auth = attrs.get(AUTH_EXTENSION)
    if auth is not None and not (isinstance(auth, str) and _AUTH.match(auth)):
        raise EventError(f"{where}: extension {AUTH_EXTENSION} is malformed")
    try:
        event = Event(
            id=attrs["id"],
            kind=kind,
            source=attrs.get("source"),
            run_id=names["runid"],
            pipeline=names["pipeline"],
            time=attrs["time"],
            data=payload,
            step=names["subject"],
            traceparent=traceparent,
            tracestate=tracestate if isinstance(tracestate, str) else None,
            auth=auth,
        )
    except pydantic.ValidationError as exc:
        raise EventError(f"{where}: {_errors(exc)}") from exc
    if event.time.tzinfo is None:
        shown = _short(repr(attrs["time"]), 60)
        raise EventError(f"{where}: time {shown} has no UTC offset (RFC 3339)")
    return event


def _errors(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(_short(str(p), 40) for p in err["loc"][:8]) or "(root)"
        parts.append(f"{_short(loc, 160)}: {_short(err['msg'].lower(), 160)}")
    more = exc.error_count() - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
