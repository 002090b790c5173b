"""OpenTelemetry for runner: one trace per run (see ``docs/tracing.md``).

- :mod:`~runner.telemetry.ids`: derived trace and span ids (no OpenTelemetry import);
- :mod:`~runner.telemetry.tracer` / :mod:`~runner.telemetry.runs`: the controller's tracer;
- :mod:`~runner.telemetry.records`: which spans an applied event ended;
- :mod:`~runner.telemetry.step`: tracing inside a step process;
- :mod:`~runner.telemetry.setup`, :mod:`~runner.telemetry.config`: providers and settings;
- :mod:`~runner.telemetry.files`, :mod:`~runner.telemetry.otlp_json`: the local OTLP/JSON files;
- :mod:`~runner.telemetry.waterfall`: reading them back for ``runner trace``.
"""
