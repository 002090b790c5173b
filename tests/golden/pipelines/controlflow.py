"""Control flow: an exit handler around a sweep (ParallelFor over an upstream list,
a condition on the item, Collected fan-in) and If/Elif/Else on the best score
with OneOf picking the branch that ran."""

from runner import (
    Collected,
    Elif,
    Else,
    ExitHandler,
    If,
    Input,
    Model,
    OneOf,
    Output,
    ParallelFor,
    PipelineTaskFinalStatus,
    component,
    pipeline,
)


@component
def grid(n: int) -> list:
    return [{"lr": 0.01 * (i + 1), "depth": i % 3} for i in range(n)]


@component
def fit(lr: float, depth: int, model: Output[Model]) -> float:
    with open(model.path, "w") as fh:
        fh.write(f"{lr} {depth}")
    return lr * depth


@component
def pick(scores: list, models: Input[list[Model]], best: Output[Model]) -> float:
    index = scores.index(max(scores))
    with open(models[index].path) as src, open(best.path, "w") as dst:
        dst.write(src.read())
    return scores[index]


@component
def verdict(text: str) -> str:
    return text


@component
def announce(msg: str, status: PipelineTaskFinalStatus) -> None:
    print(msg, status.state)


@pipeline(name="controlflow")
def controlflow(n: int = 4, threshold: float = 0.02) -> None:
    bye = announce(msg="sweep finished")
    with ExitHandler(bye):
        g = grid(n=n)
        with ParallelFor(g.output, parallelism=2) as item:
            with If(item.depth > 0):
                f = fit(lr=item.lr, depth=item.depth)
        best = pick(scores=Collected(f.output), models=Collected(f.outputs["model"]))
        with If(best.output >= threshold):
            good = verdict(text="ship it")
        with Elif((best.output > 0) & (best.output < threshold)):
            meh = verdict(text="review")
        with Else():
            bad = verdict(text="discard")
        verdict(text=OneOf(good.output, meh.output, bad.output)).set_caching(False)
