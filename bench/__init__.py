"""Benchmarks: ``python -m bench`` (``make bench``) prints a table and writes JSON.

Workloads (see ``docs/performance.md``): W1 a chain of 10 trivial steps,
W2 50 independent steps and a fan-in, W3 W1 fully cached, W4 controller
throughput on 1k-10k-step DAGs — through ``decide`` alone and through the
real controller with a no-op executor. W1-W3 are compared with kfp.local
in the same run when kfp can be installed into ``bench/.venv-kfp``.
"""
