"""Translate nats-py exceptions into :mod:`runner.errors` at the adapter edge.

Nothing from ``nats`` escapes :mod:`runner.bus`: callers see
:class:`BusUnavailableError` (transient: the server is unreachable or slow,
try again) or :class:`BusError` (JetStream refused the request), each naming
the operation, the cause and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from runner.errors import BusError, BusUnavailableError

__all__ = ["translate_errors"]

_UNREACHABLE = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,
    ConnectionError,
)


@contextmanager
def translate_errors(what: str, url: str) -> Iterator[None]:
    """Run a nats-py call; re-raise its failures as runner errors.

    ``what`` names the operation ("publish to runner.events.iris.r1.run.started"),
    ``url`` is the redacted server URL.
    """
    try:
        yield
    except nats.js.errors.NoStreamResponseError as exc:
        raise BusError(
            f"{what}: no JetStream stream stores this subject on {url}; create the streams "
            "first (`runner up`, or Bus.ensure_streams())"
        ) from exc
    except nats.js.errors.ServiceUnavailableError as exc:
        raise BusUnavailableError(
            f"{what}: JetStream is not available on {url} ({exc.description}); "
            "enable JetStream on the server (nats-server -js) and retry"
        ) from exc
    except nats.js.errors.APIError as exc:
        raise BusError(
            f"{what}: JetStream refused it: {exc.description} (code {exc.err_code}); "
            "check the stream and consumer configuration on the server"
        ) from exc
    except nats.errors.MaxPayloadError as exc:
        raise BusError(
            f"{what}: the message is larger than the server's max_payload on {url}; "
            "raise max_payload in the nats-server config (runner's embedded server uses 8MB)"
        ) from exc
    except TimeoutError as exc:  # nats.errors.TimeoutError is one too
        raise BusUnavailableError(
            f"{what}: NATS at {url} did not answer in time; check the server is healthy and retry"
        ) from exc
    except _UNREACHABLE as exc:
        raise BusUnavailableError(
            f"{what}: lost the connection to NATS at {url} ({type(exc).__name__}); "
            "it reconnects by itself, retry shortly"
        ) from exc
    except nats.errors.Error as exc:
        raise BusError(f"{what}: NATS error on {url}: {exc}") from exc
