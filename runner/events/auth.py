"""Signed step reports: who may say how an attempt went.

Anyone who can publish on the bus could otherwise forge a step's report (a
``step.succeeded`` with the attempt's deterministic id and a made-up output,
published while the step runs, would win the dedup race against the real
one). So every step event the controller acts on carries a signature in the
``runnerauth`` CloudEvent extension, and the controller dead-letters the
ones that do not verify.

- The controller holds a secret *report key* (:class:`ReportKeys`).
- Each attempt gets its own *attempt token*, derived from the key and
  ``(run, step, attempt)``; the executor hands it to the step process in its
  environment (:data:`TOKEN_ENV`), never in a request file or an event. A
  token only vouches for its own attempt, so a step cannot forge another's.
- The step signs its ``step.started/succeeded/failed`` with its token; the
  controller (and the executors inside it) sign what they publish about
  steps with a controller token derived from the key.

The signature is ``v1.<hex HMAC-SHA256>`` over the event id, type, run,
pipeline, step and the canonical JSON of ``data``. Pure: ``hmac``/``hashlib``.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from runner.events.envelope import Event
from runner.events.kinds import EventKind

__all__ = [
    "SIGNED_KINDS",
    "TOKEN_ENV",
    "ReportKeys",
    "attempt_of",
    "sign",
    "signature",
]

TOKEN_ENV = "RUNNER_ATTEMPT_TOKEN"
"""Environment variable that gives a step process its attempt token."""
_VERSION = "v1"
_CONTROLLER = b"runner-controller\x00"
_ATTEMPT = b"runner-attempt\x00"

SIGNED_KINDS = frozenset(kind for kind in EventKind if kind.is_step)
"""Step events must be signed; run requests and cancel requests come from users
(who is allowed to send those is a matter of NATS permissions)."""


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(event: Event, token: str) -> str:
    """The ``runnerauth`` value of ``event`` signed with ``token``."""
    message = _canonical(
        [event.id, event.type, event.run_id, event.pipeline, event.step, event.data_json()]
    )
    mac = hmac.new(token.encode(), message, hashlib.sha256).hexdigest()
    return f"{_VERSION}.{mac}"


def sign(event: Event, token: str) -> Event:
    """``event`` with its signature by ``token``."""
    return event.model_copy(update={"auth": signature(event, token)})


def attempt_of(event: Event) -> int | None:
    """The attempt a step event is about (``step.cached`` names none)."""
    value = getattr(event.data, "attempt", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ReportKeys:
    """The controller's report key: derives attempt tokens, signs and verifies."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a report key needs at least 16 bytes")
        self._key = key
        self._controller = self._derive(_CONTROLLER)

    def _derive(self, label: bytes) -> str:
        return hmac.new(self._key, label, hashlib.sha256).hexdigest()

    def attempt_token(self, run_id: str, step: str, attempt: int) -> str:
        """The secret a step attempt signs its reports with."""
        return self._derive(_ATTEMPT + _canonical([run_id, step, attempt]))

    def sign(self, event: Event) -> Event:
        """Sign an event the controller (or one of its executors) publishes."""
        if event.kind not in SIGNED_KINDS:
            return event
        return sign(event, self._controller)

    def verify(self, event: Event) -> str | None:
        """Why ``event`` must not be trusted, or None when it verifies (or needs no proof)."""
        if event.kind not in SIGNED_KINDS:
            return None
        if event.auth is None:
            return (
                f"{event.type} for step '{event.step}' carries no runnerauth signature: "
                "only the attempt itself and the controller may report on a step"
            )
        candidates = [self._controller]
        attempt = attempt_of(event)
        if attempt is not None and event.step is not None:
            candidates.append(self.attempt_token(event.run_id, event.step, attempt))
        for token in candidates:
            if hmac.compare_digest(event.auth, signature(event, token)):
                return None
        return (
            f"{event.type} for step '{event.step}' has a runnerauth signature that does not "
            "verify: it was not sent by the attempt or the controller (forged or altered)"
        )
