"""Container components with placeholders, mixed with a Python component."""

from runner import ContainerSpec, Dataset, Input, Model, Output, component, container_component, pipeline


@container_component
def download(url: str, out: Output[Dataset]) -> ContainerSpec:
    return ContainerSpec(
        image="curlimages/curl:8.8.0",
        command=["curl", "-fsSL", "-o", out.path],
        args=[url],
    )


@container_component(name="train-cli")
def train(data: Input[Dataset], epochs: int, model: Output[Model]) -> ContainerSpec:
    return ContainerSpec(
        image="ghcr.io/acme/trainer:1.4",
        command=["trainer"],
        args=["--data", data.path, "--data-uri", data.uri, "--epochs", epochs, "--out", model],
    )


@component
def report(model: Input[Model]) -> str:
    return model.uri


@pipeline(name="container")
def container(url: str = "https://example.com/iris.csv", epochs: int = 3) -> None:
    d = download(url=url)
    t = train(data=d.outputs["out"], epochs=epochs).set_env(PYTHONUNBUFFERED="1")
    report(model=t.outputs["model"])
