"""The lifecycle around runs: pipeline versions, run history, metric
comparison, lineage and schedules.

Everything here is built on what the runtime already records — run states,
the run index and events on NATS (:mod:`runner.records`), specs, code
packages and cache manifests in the store — with no server of its own.
Modules are imported directly (``runner.lifecycle.registry`` …); this
package re-exports nothing.
"""
