"""Records that several features share, one layer below them.

The controller, the lifecycle, triggers, the library face (:mod:`runner.api`)
and the CLI all read and write the same few things; they live here so those
features import this layer instead of each other:

- :mod:`~runner.records.run`: :class:`RunRecord`, a run as people and scripts see it.
- :mod:`~runner.records.states`: run states in the KV bucket, with compare-and-set.
- :mod:`~runner.records.plans`: compiled specs loaded from the store, cached as plans.
- :mod:`~runner.records.index`: the run index, one small summary per run.
- :mod:`~runner.records.requests`: requesting a run and following it (:class:`RunHandle`).
- :mod:`~runner.records.pipelines`: publishing a pipeline to the store and naming it
  (:class:`PipelineRef`, ``NAME@VERSION``).

This package re-exports only the run record; import the other modules directly,
so a reader of run states does not pull in the DSL.
"""

from runner.records.run import OutputRecord, RunRecord, StepRecord, duration_between

__all__ = ["OutputRecord", "RunRecord", "StepRecord", "duration_between"]
