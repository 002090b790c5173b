"""Messages no consumer may choke on: the measured poison messages, and
generated ones of every shape (bytes, JSON values, CloudEvent-shaped
documents, binary mode with ``ce-*`` headers).

The shapes are written once, against a :class:`Source` of choices, and
driven two ways: by Hypothesis (:func:`messages` and friends, for property
tests that shrink a failure to a minimal message) and by a seeded
``random.Random`` (:func:`seeded_messages`, for tests that publish ten
thousand messages at once, where Hypothesis' few milliseconds per example
would be most of the test).
"""

from __future__ import annotations

import functools
import json
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from runner.events import EventKind
from runner.events.codec import encode
from tests.unit.events.samples import sample

T = TypeVar("T")

GARBAGE_PIPELINE = "fuzz"
"""Pipeline of every generated message: no real run uses it."""
GARBAGE_RUN = "fuzz-run"
"""Run id of the skeletons: no run of that id is ever requested."""
EVENTS_SUBJECT = f"runner.events.{GARBAGE_PIPELINE}.{GARBAGE_RUN}.step.succeeded"

# Every kind but run.requested: a valid run.requested would start a run (and the
# run.failed of its unloadable spec is a second dead letter); the others are
# dead-lettered exactly once, as undecodable or as events of an unknown run.
SKELETON_KINDS = [k for k in EventKind if k is not EventKind.RUN_REQUESTED]

GIVEN_SETTINGS = settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
"""What the property tests use: no example database written into the working
tree, no per-example deadline (CI machines are slow)."""


@dataclass(frozen=True)
class Message:
    """One message as it goes on the wire."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    subject: str = EVENTS_SUBJECT
    what: str = ""


@functools.cache
def _skeleton_json(kind: EventKind) -> bytes:
    body, _ = encode(sample(kind, run_id=GARBAGE_RUN, pipeline=GARBAGE_PIPELINE))
    return body


def skeleton(kind: EventKind) -> dict[str, Any]:
    """A valid structured-mode CloudEvent of ``kind`` for run :data:`GARBAGE_RUN`
    (a fresh copy: callers change it)."""
    doc: dict[str, Any] = json.loads(_skeleton_json(kind))
    return doc


def poison_messages(stream: str) -> list[Message]:
    """The messages that each killed ``runner up`` (and again after every restart):
    the four of the issue, and lone surrogates found by the fault suite.

    ``stream`` is the name of the events stream: the header must name the
    stream that stores the subject, or the publish itself is refused.
    """

    def changed(**changes: Any) -> bytes:
        doc = skeleton(EventKind.STEP_SUCCEEDED)
        doc.update(changes)
        return json.dumps(doc).encode()

    valid, _ = encode(sample(EventKind.STEP_SUCCEEDED, run_id="fuzz-hdr", pipeline="fuzz"))
    return [
        Message(changed(id=None), what='"id": null'),
        Message(changed(specversion=[]), what='"specversion": []'),
        Message(b"[" * 200_000, what="200 KB of nested ["),
        Message(
            valid,
            {"Nats-Expected-Stream": stream, "Content-Type": "application/cloudevents+json"},
            subject="runner.events.fuzz.fuzz-hdr.step.succeeded",
            what="header Nats-Expected-Stream",
        ),
        # Lone UTF-16 surrogates parse as JSON but can never be written back
        # as UTF-8 (a log line, a dead-letter header, the run state).
        Message(changed(specversion="\udc80"), what="lone surrogate in specversion"),
        Message(changed(source="/x\udc80"), what="lone surrogate in source"),
        Message(
            changed(data={"attempt": 1, "parameters": {"output": "\ud800"}}),
            what="lone surrogate in the data",
        ),
    ]


# -- where choices come from -------------------------------------------------------------


class Source(Protocol):
    """The primitive choices the shapes are made of."""

    def pick(self, options: Sequence[T]) -> T: ...
    def number(self, low: int, high: int) -> int: ...
    def real(self) -> float: ...
    def text(self, max_size: int, *, header: bool = False) -> str: ...
    def blob(self, max_size: int) -> bytes: ...


class DrawSource:
    """Choices drawn by Hypothesis (so failures shrink)."""

    _header_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(min_value=low, max_value=high))

    def real(self) -> float:
        return self.draw(st.floats())

    def text(self, max_size: int, *, header: bool = False) -> str:
        if header:
            return self.draw(st.text(self._header_chars, min_size=1, max_size=max_size))
        return self.draw(st.text(max_size=max_size))

    def blob(self, max_size: int) -> bytes:
        return self.draw(st.binary(max_size=max_size))


class RandomSource:
    """Choices from a seeded ``random.Random``: the same messages on every run."""

    _edge_text: ClassVar[list[str]] = [
        "",
        " ",
        "\x00",
        "\u2028",
        "é",
        "\U0001f600",
        "'",
        '"',
        "\\",
        "..",
        "*",
        ">",
    ]
    _alphabet = string.printable + "éß中\u00a0\U0001f600"
    _header_alphabet = string.ascii_letters + string.digits + string.punctuation + " éß中"
    _edge_reals: ClassVar[list[float]] = [
        0.0,
        -0.0,
        1e308,
        -1e-308,
        float("inf"),
        float("-inf"),
        float("nan"),
    ]

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        if self.rng.random() < 0.2:
            return self.pick([low, high, 0 if low <= 0 <= high else low])
        return self.rng.randint(low, high)

    def real(self) -> float:
        if self.rng.random() < 0.3:
            return self.pick(self._edge_reals)
        return self.rng.uniform(-1e6, 1e6)

    def text(self, max_size: int, *, header: bool = False) -> str:
        alphabet = self._header_alphabet if header else self._alphabet
        if not header and self.rng.random() < 0.2:
            return self.pick(self._edge_text)
        size = self.rng.randint(1 if header else 0, max_size)
        return "".join(self.rng.choice(alphabet) for _ in range(size)).strip() or "x"

    def blob(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


# -- the shapes ------------------------------------------------------------------------------

_ATTRIBUTES = sorted(
    {k for kind in SKELETON_KINDS for k in skeleton(kind)}
    | {"runnerauth", "tracestate", "dataschema", "datacontenttype", "subject"}
)


def json_value(src: Source, depth: int = 0) -> Any:
    """Any JSON value (NaN and infinities too: Python's json reads and writes them)."""
    kinds = ["null", "bool", "int", "real", "text", "long", "list", "object"]
    kind = src.pick(kinds if depth < 3 else kinds[:6])
    if kind == "null":
        return None
    if kind == "bool":
        return src.pick([True, False])
    if kind == "int":
        return src.number(-(10**30), 10**30)
    if kind == "real":
        return src.real()
    if kind == "text":
        return src.text(40)
    if kind == "long":
        return long_text(src)
    if kind == "list":
        return [json_value(src, depth + 1) for _ in range(src.number(0, 4))]
    return {src.text(12): json_value(src, depth + 1) for _ in range(src.number(0, 4))}


def long_text(src: Source) -> str:
    """A long run of one character: how a 10 kB name gets echoed in an error."""
    return src.pick(["x", "é", "-", "A", "/", "a"]) * src.number(70, 12_000)


def cloudevent_doc(src: Source) -> dict[str, Any]:
    """A valid skeleton with a few attributes (or data fields) replaced by any JSON
    value, removed, or added as unknown extensions."""
    doc = skeleton(src.pick(SKELETON_KINDS))
    for _ in range(src.number(1, 3)):
        key = src.pick(_ATTRIBUTES)
        action = src.pick(["replace", "replace", "long", "remove"])
        if action == "remove":
            doc.pop(key, None)
        else:
            doc[key] = long_text(src) if action == "long" else json_value(src)
    data = doc.get("data")
    if isinstance(data, dict) and src.pick([True, False]):
        data[src.pick(sorted(data) or ["attempt"])] = json_value(src)
    if src.pick([True, False]):
        doc[src.text(10) or "x"] = json_value(src)
    return doc


def binary_headers(src: Source, *, wire_safe: bool = True) -> dict[str, str]:
    """Binary-mode ``ce-*`` headers of a skeleton, some replaced by any text.

    ``wire_safe``: only values NATS can carry (no control characters)."""
    doc = skeleton(src.pick(SKELETON_KINDS))
    headers = {f"ce-{k}": str(v) for k, v in doc.items() if k not in ("data", "datacontenttype")}
    headers["Content-Type"] = "application/json"
    names = sorted(headers)
    for _ in range(src.number(1, 3)):
        name = src.pick(names)
        long = src.pick([False, False, True])
        headers[name] = long_text(src) if long else src.text(80, header=wire_safe)
    if src.pick([True, False]):
        extension = "".join(src.pick(string.ascii_lowercase) for _ in range(src.number(1, 8)))
        headers[f"ce-{extension}"] = src.text(40, header=wire_safe)
    return headers


def message(src: Source, *, wire_safe: bool = True) -> Message:
    """A message of any shape: bytes, a JSON value, a CloudEvent-shaped document,
    binary mode with ``ce-*`` headers, or JSON nested very deeply."""
    shape = src.pick(["bytes", "json", "cloudevent", "cloudevent", "binary", "deep"])
    if shape == "bytes":
        return Message(src.blob(300), what=shape)
    if shape == "json":
        return Message(_dumps(json_value(src)), what=shape)
    if shape == "cloudevent":
        return Message(_dumps(cloudevent_doc(src)), what=shape)
    if shape == "deep":
        depth = src.number(900, 5000)
        return Message(b"[" * depth + b"]" * depth * src.number(0, 1), what=shape)
    headers = binary_headers(src, wire_safe=wire_safe)
    body = src.blob(200) if src.pick([True, False]) else _dumps(json_value(src))
    return Message(body, headers, what=shape)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- the two drivers ----------------------------------------------------------------------


def _strategy(shape: Callable[[Source], T]) -> st.SearchStrategy[T]:
    return st.composite(lambda draw: shape(DrawSource(draw)))()


json_values = _strategy(json_value)
cloudevent_docs = _strategy(cloudevent_doc)
wire_binary_headers = _strategy(binary_headers)
any_binary_headers = _strategy(lambda src: binary_headers(src, wire_safe=False))
messages = _strategy(message)
"""Hypothesis strategies of the shapes above."""


def seeded_messages(count: int, seed: int = 12) -> list[Message]:
    """``count`` messages of every shape, the same ones for the same seed."""
    src = RandomSource(seed)
    return [message(src) for _ in range(count)]
