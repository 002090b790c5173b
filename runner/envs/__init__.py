"""Step environments for components' ``packages``: content-addressed virtualenvs.

A component that declares ``packages`` runs in a virtualenv built for its
sorted, normalised requirement set and the interpreter (:mod:`.requirements`),
once, with uv (:mod:`.installer`), under ``<home>/envs/<digest>``
(:mod:`.layout`), shared by every step and run asking for the same set
(:mod:`.manager`). On Kubernetes the controller resolves the set to a lock
kept in the store and the pod installs exactly that lock (:mod:`.locks`,
:mod:`.pod`). The exact resolved versions go into the step's cache key.

Below the executors and the controller: imports only config, spec, errors
and privacy.
"""

from runner.envs.installer import InstallError
from runner.envs.manager import (
    EnvironmentFailedError,
    EnvironmentManager,
    PreparedEnvironment,
    StepEnvironments,
    environment_cache_key,
)

__all__ = [
    "EnvironmentFailedError",
    "EnvironmentManager",
    "InstallError",
    "PreparedEnvironment",
    "StepEnvironments",
    "environment_cache_key",
]
