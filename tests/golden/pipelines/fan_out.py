"""Fan-out/fan-in: one source, parallel branches, NamedTuple outputs, a join."""

from typing import NamedTuple

from runner import component, pipeline


class Summary(NamedTuple):
    mean: float
    n: int


@component
def make_numbers(count: int) -> list:
    return list(range(count))


@component
def scale(numbers: list, factor: float) -> list:
    return [x * factor for x in numbers]


@component
def summarize(a: list, b: list, c: list) -> Summary:
    values = [*a, *b, *c]
    return Summary(sum(values) / len(values), len(values))


@component
def notify(mean: float, n: int, channel: str = "#ml") -> None:
    print(channel, mean, n)


@pipeline(name="fan-out")
def fan_out(count: int = 10) -> None:
    src = make_numbers(count=count)
    branches = [scale(numbers=src.output, factor=f) for f in (0.5, 1, 2)]
    summary = summarize(a=branches[0].output, b=branches[1].output, c=branches[2].output)
    notify(mean=summary.outputs["mean"], n=summary.outputs["n"]).after(src).set_retry(
        max_attempts=5, backoff=1.5, max_backoff="1m"
    )
