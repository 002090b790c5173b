"""The lifecycle around runs: pipeline versions, run history and its index,
metric comparison, lineage and schedules (issue #9).

Everything here is built on what the runtime already records — run states and
events on NATS, specs, code packages and cache manifests in the store — with
no server of its own. Modules are imported directly (``runner.lifecycle.index``
…); this package re-exports nothing, so the controller can import the run
index without pulling in the rest.
"""
