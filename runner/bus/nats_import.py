"""Importing the NATS client without aiohttp, for a process that never uses WebSocket.

nats-py's transport module imports aiohttp (and with it multidict, yarl,
its HTTP parser: around 100 ms) when it is imported, for its WebSocket
transport only; ``nats://`` and ``tls://`` connections never touch it. A
step process connects once to publish its own events, and that import was
a good part of its start. :func:`import_nats_client` imports the client as if
aiohttp were not installed (nats-py is written for that: its WebSocket
transport then says aiohttp is missing) and leaves aiohttp importable for
everything else in the process, the step's own code included.
"""

from __future__ import annotations

import importlib
import sys
from urllib.parse import urlsplit

__all__ = ["import_nats_client", "uses_websocket"]

_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})


def uses_websocket(servers: str | None) -> bool:
    """Whether any of the comma-separated server URLs is ``ws://`` or ``wss://``."""
    if not servers:
        return False
    return any(
        urlsplit(part.strip()).scheme.lower() in _WEBSOCKET_SCHEMES
        for part in servers.split(",")
        if "://" in part
    )


def import_nats_client(servers: str | None) -> None:
    """Import ``nats.aio.client``; without aiohttp unless ``servers`` use WebSocket.

    Once nats-py is imported, or aiohttp is, this changes nothing: the client
    is imported as it would be anyway.
    """
    if uses_websocket(servers) or "nats.aio.transport" in sys.modules or "aiohttp" in sys.modules:
        importlib.import_module("nats.aio.client")
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]  # `import aiohttp` raises ImportError
    try:
        importlib.import_module("nats.aio.client")
    finally:
        if "aiohttp" in sys.modules and sys.modules["aiohttp"] is None:
            del sys.modules["aiohttp"]
