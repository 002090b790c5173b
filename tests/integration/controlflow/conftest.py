"""The runtime suite's fixtures (a Stack on a private nats-server, pipeline
sources in a temporary tree, a ``calls`` directory), re-exported here."""

from tests.integration.runtime.conftest import calls, stack, write_pipeline

__all__ = ["calls", "stack", "write_pipeline"]
