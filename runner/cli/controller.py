"""``runner controller``: the long-lived controller, as the Deployment in ``k8s/`` runs it.

Consumes run events and drives runs with the configured executor (in a
cluster: ``RUNNER_EXECUTOR=kubernetes``, in-cluster credentials, or a
kubeconfig from ``KUBECONFIG`` outside it), serves liveness/readiness probes
on ``--health-port``, and on SIGTERM stops fetching, finishes in-flight
events and exits 0 (running Jobs keep running; the next controller adopts them).
"""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.aio import run_async
from runner.cli.app import user_errors
from runner.cli.options import ALL_FLAGS, settings_of, settings_options
from runner.config import Settings
from runner.errors import ConfigError
from runner.privacy import redact_url
from runner.probes import probe_server
from runner.stack import Stack

__all__ = ["register"]

HealthPortOption = Annotated[
    int,
    typer.Option("--health-port", help="Port of /healthz and /readyz (0: no probes)."),
]
HealthHostOption = Annotated[
    str,
    typer.Option("--health-host", help="Address the probes listen on (the kubelet's reach)."),
]


@settings_options(*ALL_FLAGS)
def controller_command(
    ctx: typer.Context,
    health_port: HealthPortOption = 8080,
    health_host: HealthHostOption = "0.0.0.0",
) -> None:
    """Run the controller until SIGTERM / Ctrl-C (in a cluster: the runner Deployment)."""
    with user_errors():
        settings = settings_of(ctx)
        if settings.executor == "kubernetes" and not settings.nats.url:
            raise ConfigError(
                "the Kubernetes executor needs a NATS server its step pods can reach: set "
                "NATS_URL (in the cluster: nats://nats:4222) or --nats"
            )
        run_async(_serve(settings, health_host, health_port))
    typer.echo("runner controller: stopped")


async def _serve(settings: Settings, host: str, port: int) -> None:
    # Imported here, not at the top: it imports croniter, which `runner --help` does without.
    from runner.service import serve

    stacks: list[Stack] = []

    def live() -> str | None:
        if stacks and not stacks[0].controller_running:
            return "the controller has stopped"
        return None

    def ready() -> str | None:
        if not stacks:
            return "starting"
        return live()

    def on_ready(stack: Stack) -> None:
        stacks.append(stack)
        typer.echo(
            f"runner controller ready: executor {settings.executor}, "
            f"NATS {redact_url(stack.nats_url or '?')}, store {redact_url(stack.store.uri)}"
        )

    if port == 0:
        await serve(settings, on_ready=on_ready)
        return
    async with probe_server(live=live, ready=ready, host=host, port=port) as bound:
        typer.echo(f"health probes on http://{host}:{bound}/healthz and /readyz")
        await serve(settings, on_ready=on_ready)


def register(app: typer.Typer) -> None:
    app.command("controller")(controller_command)
