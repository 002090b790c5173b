"""The DESIGN.md §3 example, verbatim."""

from runner import component, container_component, pipeline, ContainerSpec
from runner import Input, Output, Artifact, Dataset, Model, Metrics

@component(packages=["scikit-learn"], image="python:3.11-slim")
def prepare(rows: int, data: Output[Dataset]) -> int:
    ...                      # write to data.path; data.metadata["rows"] = rows
    return rows

@component
def train(data: Input[Dataset], lr: float, model: Output[Model],
          metrics: Output[Metrics]) -> float:
    metrics.log_metric("accuracy", 0.93)
    return 0.93

@pipeline(name="iris")
def iris(rows: int = 150, lr: float = 0.1):
    p = prepare(rows=rows)
    t = train(data=p.outputs["data"], lr=lr)
    t.set_resources(cpu="2", memory="4Gi", gpu=1, accelerator="nvidia-h100")
    t.set_retry(max_attempts=3, backoff="10s", factor=2.0, max_backoff="5m")
    t.set_timeout("1h").set_env(OMP_NUM_THREADS="2")
