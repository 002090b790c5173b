"""Names of the things a run instantiates from its plan: steps and loops, per iteration.

A task outside any loop is one step named after the task. A task in a
``ParallelFor`` is one step per iteration, named by the iteration indexes of
its enclosing loops, outermost first: ``train[3]``, ``train[2,1]`` in a
nested loop. Loops are instantiated the same way (``for-loop-2[3]`` is the
inner loop of the outer loop's iteration 3). Indexes, not item values, make
the names: they are deterministic, short, unique and always valid step
names and store keys, whatever the items hold.
"""

from __future__ import annotations

Indexes = tuple[int, ...]


def suffix(indexes: Indexes) -> str:
    """``""`` outside loops, else ``"[i]"`` / ``"[i,j]"``."""
    return "[" + ",".join(map(str, indexes)) + "]" if indexes else ""


def instance(node: str, indexes: Indexes) -> str:
    """The step (or loop) name of ``node`` in the iteration ``indexes``."""
    return node + suffix(indexes)


def split(name: str) -> tuple[str, Indexes]:
    """``train[2,1]`` → ``("train", (2, 1))``; ``train`` → ``("train", ())``.

    Raises ValueError for a malformed suffix (the caller rejects the event).
    """
    base, bracket, rest = name.partition("[")
    if not bracket:
        return name, ()
    if not rest.endswith("]"):
        raise ValueError(f"step {name!r} has an unterminated iteration suffix")
    parts = rest[:-1].split(",")
    if not all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts):
        raise ValueError(f"step {name!r} has an iteration suffix that is not indexes")
    return base, tuple(int(p) for p in parts)


def node_of(name: str) -> str:
    """The task (or loop) a step (or loop instance) name belongs to."""
    return name.partition("[")[0]
