"""Messages no controller should choke on: named poisons and a seeded flood.

Every message here must end in the dead-letter stream: its body does not
decode to a valid event, or it is a valid event of a run nobody requested
(``ghost-*``). Bodies that name the real run are always broken, so the
flood cannot change the run it runs beside.

The flood is drawn with a seeded ``random.Random`` rather than Hypothesis:
it is one batch against a live ``runner up``, where shrinking cannot help;
the codec's own Hypothesis fuzz lives with the codec's tests.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from tests.chaos.rawbus import Message

CE_JSON = {"Content-Type": "application/cloudevents+json"}
PIPELINE = "chaos"


def event(run: str, step: str = "s2", attempt: int = 1, output: Any = 1) -> dict[str, Any]:
    """A well-formed ``step.succeeded`` as a step publishes it."""
    return {
        "specversion": "1.0",
        "id": f"{run}/{step}/{attempt}/step.succeeded",
        "source": "/runner/step",
        "type": "runner.step.succeeded",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "runid": run,
        "pipeline": PIPELINE,
        "subject": step,
        "data": {"attempt": attempt, "outputs": {}, "parameters": {"output": output}},
    }


def subject(run: str, kind: str = "step.succeeded") -> str:
    return f"runner.events.{PIPELINE}.{run}.{kind}"


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def named(run: str) -> list[Message]:
    """The four messages that each killed ``runner up`` (and again after every restart),
    then lone surrogates (JSON ``"\\udc80"``: valid JSON, not encodable as UTF-8) in
    ``specversion``, in ``source`` and in the data."""
    null_id = {**event(run), "id": None}
    list_version = {**event(run), "specversion": []}
    ghost = event("ghost-expected-stream")
    surrogates = [
        {**event(run), "specversion": "\udc80"},
        {**event("ghost-surrogate-source"), "source": "/runner/\udc80"},
        {**event("ghost-surrogate-data"), "data": {"attempt": 1, "parameters": {"x": "\udc80"}}},
    ]
    return [
        *(
            Message(subject(run), dumps(body), CE_JSON, f"lone surrogate #{i + 1}")
            for i, body in enumerate(surrogates)
        ),
        Message(subject(run), dumps(null_id), CE_JSON, '"id": null'),
        Message(subject(run), dumps(list_version), CE_JSON, '"specversion": []'),
        Message(subject(run), b"[" * 200_000, CE_JSON, "200 KB of nested ["),
        Message(
            subject("ghost-expected-stream"),
            dumps(ghost),
            {**CE_JSON, "Nats-Msg-Id": ghost["id"], "Nats-Expected-Stream": "RUNNER_EVENTS"},
            "valid-looking event with header Nats-Expected-Stream",
        ),
    ]


# -- the flood ------------------------------------------------------------------------------


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(10 if depth < 3 else 7)
    simple: list[Any] = [
        None, True, False, 0, -1, 2**70, 1e308, "", "x" * rng.randrange(1, 80),
        "\u202e\u0000\udc80", float("nan"), float("inf"),
    ]  # fmt: skip
    if pick < 7:
        return rng.choice(simple)
    if pick < 9:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["id", "a", "", "runid", "data"]): _json_value(rng, depth + 1)}


_BAD_NAMES = ["UPPER", "a.b", "a b", ">", "*", "", "-lead", "x" * 10_000, "a/../b"]


def _bad_name(rng: random.Random) -> str:
    return rng.choice([*_BAD_NAMES, "é", "a\r\nb", "\udc80"])


def _bad_header(rng: random.Random) -> str:
    """A bad name that is still a legal header value (no CR/LF, ASCII): the publish must
    reach the server for the controller to see it."""
    return rng.choice(_BAD_NAMES)


def _mutate(rng: random.Random, body: dict[str, Any]) -> None:
    key = rng.choice(sorted(body))
    how = rng.randrange(9)
    if how == 0:
        del body[key]
    elif how == 1:
        body[key] = _json_value(rng)
    elif how == 2:
        body["data"] = _json_value(rng)
    elif how == 3:
        body["type"] = rng.choice(["runner.nope", "runner.", "x", "runner.step.succeeded.x"])
    elif how == 4:
        body[rng.choice(["runid", "pipeline", "subject"])] = _bad_name(rng)
    elif how == 5:
        body["time"] = rng.choice(["yesterday", "", "2026-13-45T99:00:00Z", 0])
    elif how == 6:
        body["specversion"] = rng.choice(["0.3", "2.0", "", 1.0, [], {}])
    elif how == 7:
        body["id"] = rng.choice(["", " ", "a\nb", "é" * 10, "x" * 600, 7, [], {}])
    else:
        body["data"] = {"attempt": _json_value(rng), "parameters": _json_value(rng)}


def _body(rng: random.Random, i: int) -> tuple[bytes, dict[str, str] | None]:
    ghost = f"ghost-{i}"
    shape = rng.randrange(8)
    if shape == 0:  # not JSON, often not UTF-8
        return rng.randbytes(rng.randrange(512)), rng.choice([None, CE_JSON])
    if shape == 1:  # JSON, but not an object
        return dumps([i, _json_value(rng)]), CE_JSON
    if shape == 2:  # deep nesting, closed or not
        n = rng.randrange(100, 20_000)
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        tail = closer * n if rng.random() < 0.5 else ""
        return f'{{"i":{i},"x":{opener * n}1{tail}'.encode(), CE_JSON
    if shape == 3:  # binary mode with broken ce- headers
        headers = {
            "ce-specversion": rng.choice(["1.0", "0.3", ""]),
            "ce-id": rng.choice([f"{ghost}/x", "", "a b"]),
            "ce-type": rng.choice(["runner.step.succeeded", "nope", ""]),
            "ce-source": rng.choice(["/runner/step", ""]),
            "ce-runid": rng.choice([ghost, _bad_header(rng)]),
            "Content-Type": rng.choice(["application/json", "text/plain", ""]),
        }
        del headers[rng.choice(sorted(headers))]
        return dumps(_json_value(rng)), headers
    if shape == 4:  # a valid event cut short
        raw = dumps(event(ghost))
        return raw[: rng.randrange(1, len(raw) - 1)], CE_JSON
    if shape == 5:  # a valid event with a byte that is not UTF-8
        spoilt = bytearray(dumps(event(ghost)))
        spoilt[rng.randrange(len(spoilt))] = 0xFF
        return bytes(spoilt), CE_JSON
    body = event(ghost, step=rng.choice(["s1", "s2", "s4"]), attempt=rng.randrange(1, 3))
    for _ in range(rng.randrange(1, 4)):
        _mutate(rng, body)
    headers = dict(CE_JSON)
    if rng.random() < 0.3:
        headers["Nats-Expected-Stream"] = "RUNNER_EVENTS"
    return dumps(body), headers


def flood(rng: random.Random, run: str, n: int) -> list[Message]:
    """``n`` malformed messages on the real run's subjects, ghost runs' and odd ones."""
    out = []
    for i in range(n):
        body, headers = _body(rng, i)
        where = rng.choice(
            [
                subject(run),
                subject(run, "step.failed"),
                subject(f"ghost-{i}"),
                f"runner.events.{PIPELINE}.UPPER.step.succeeded",
                "runner.events.x",
                f"runner.events.a.b.c.d.e.{i}",
            ]
        )
        if headers is not None and rng.random() < 0.5:
            headers = {**headers, "Nats-Msg-Id": f"flood-{i}"}
        out.append(Message(where, body, headers))
    return out
