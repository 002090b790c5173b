"""HTTP liveness and readiness probes for the controller service in a pod.

``GET /healthz`` answers 200 while the process serves and its controller has
not died (the kubelet restarts the pod otherwise); ``GET /readyz`` answers 200
once the controller consumes events (connected, recovered). Both answer 503
with the reason in the body. Served by aiohttp, already a dependency of the
Kubernetes and S3 clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from runner.errors import ConfigError

Check = Callable[[], str | None]
"""Returns None when healthy, else why not."""


@asynccontextmanager
async def probe_server(
    *, live: Check, ready: Check, host: str = "0.0.0.0", port: int = 8080
) -> AsyncIterator[int]:
    """Serve the probes while the block runs; yields the bound port."""

    def answer(check: Check) -> Callable[[web.Request], object]:
        async def handler(_: web.Request) -> web.Response:
            problem = check()
            if problem is None:
                return web.Response(text="ok\n")
            return web.Response(status=503, text=problem + "\n")

        return handler

    app = web.Application()
    app.router.add_get("/healthz", answer(live))  # type: ignore[arg-type]
    app.router.add_get("/readyz", answer(ready))  # type: ignore[arg-type]
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the health probes on {host}:{port}: {exc.strerror or exc}; "
                "choose another --health-port (0 disables them)"
            ) from exc
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
