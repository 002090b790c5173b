"""A task: one call of a component inside a pipeline, and how it should run.

``set_*`` methods validate at once (so the error points at the line that set
the bad value) and return the task, so calls chain:
``t.set_timeout("1h").set_env(OMP_NUM_THREADS="2")``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from runner.dsl import quantities
from runner.dsl.refs import TaskOutput
from runner.dsl.signature import RETURN_OUTPUT
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import KubernetesOptions, Resources, RetryPolicy, Toleration

if TYPE_CHECKING:
    from runner.dsl.binding import Binding
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.component import ComponentDefinition
    from runner.dsl.conditions import ConditionExpr
    from runner.dsl.loops import ParallelFor

__all__ = ["PipelineTask", "TaskOutputs"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEFAULT_RETRY = RetryPolicy()


class TaskOutputs(Mapping[str, TaskOutput]):
    """``task.outputs[name]``; an unknown name is a compile error listing the outputs."""

    def __init__(self, task: PipelineTask) -> None:
        self._task = task
        self._decls = {o.name: o for o in task.component.spec.outputs}

    def __getitem__(self, name: str) -> TaskOutput:
        decl = self._decls.get(name)
        if decl is None:
            names = ", ".join(f"'{n}'" for n in self._decls) or "none"
            raise CompileError(
                f"task '{self._task.name}' ({caller_location()}): component "
                f"'{self._task.component.name}' has no output '{name}'; its outputs: {names}"
            )
        return TaskOutput(self._task, decl)

    def __contains__(self, name: object) -> bool:
        return name in self._decls

    def __iter__(self) -> Iterator[str]:
        return iter(self._decls)

    def __len__(self) -> int:
        return len(self._decls)


class PipelineTask:
    """A component call in a pipeline: its inputs, dependencies and run settings."""

    def __init__(
        self,
        builder: PipelineBuilder,
        component: ComponentDefinition,
        arguments: dict[str, Binding],
        source: str,
        name: str,
    ) -> None:
        self.builder = builder
        self.component = component
        self.arguments = arguments
        self.source = source
        """``file.py:line`` of the call that created the task."""
        self._name = name
        self.upstream_after: list[PipelineTask] = []
        self.resources = Resources()
        self.retry = _DEFAULT_RETRY
        self.timeout_seconds: float | None = None
        self.env: dict[str, str] = {}
        self.caching = True
        self.image: str | None = None
        self.kubernetes = KubernetesOptions()
        self.loops: tuple[ParallelFor, ...] = ()
        """The ParallelFor blocks around the task, outermost first."""
        self.conditions: list[ConditionExpr] = []
        """The If/Elif/Else conditions around the task, inside its innermost loop."""
        self.exit_handler = False
        """The exit task of an ExitHandler: it runs after ``guarded``, whatever happened."""
        self.guarded: list[PipelineTask] = []
        self.ignores_upstream_failure = False

    def __repr__(self) -> str:
        return f"<PipelineTask {self._name} ({self.component.name}) at {self.source}>"

    @property
    def name(self) -> str:
        """The task's unique name in the pipeline (and the step name at run time)."""
        return self._name

    @property
    def outputs(self) -> TaskOutputs:
        return TaskOutputs(self)

    @property
    def output(self) -> TaskOutput:
        """The single output: the return value, or the only output there is."""
        outputs = self.component.spec.outputs
        if self.component.spec.return_outputs == [RETURN_OUTPUT]:
            return self.outputs[RETURN_OUTPUT]
        if len(outputs) == 1:
            return self.outputs[outputs[0].name]
        names = ", ".join(f"'{o.name}'" for o in outputs) or "none"
        raise CompileError(
            f"task '{self.name}' ({caller_location()}): .output needs exactly one output "
            f"but component '{self.component.name}' has {len(outputs)} ({names}); "
            "use task.outputs['name']"
        )

    def upstream(self) -> set[PipelineTask]:
        """Every task this one waits for: data producers (``Collected`` and ``OneOf``
        included), tasks its conditions read, ``.after()`` tasks and, for an exit
        task, the tasks it guards."""
        from runner.dsl.fanin import producers_of

        found = {p for b in self.arguments.values() for p in producers_of(b)}
        found |= {t for c in self.conditions for t in c.tasks}
        return found | set(self.upstream_after) | set(self.guarded)

    def order_after(self) -> set[PipelineTask]:
        """What must come before this task in the spec's topological order: its
        upstream, and what its loops read (their items and conditions)."""
        found = self.upstream()
        for loop in self.loops:
            found |= loop.producers | loop.condition_tasks
        return found

    def _what(self, setting: str) -> str:
        return f"task '{self.name}' ({caller_location()}): {setting}"

    def after(self, *tasks: PipelineTask) -> PipelineTask:
        """Run after ``tasks`` even without a data dependency."""
        for other in tasks:
            if not isinstance(other, PipelineTask) or other.builder is not self.builder:
                raise CompileError(
                    f"{self._what('.after()')} takes tasks created in the same pipeline, "
                    f"got {other!r}"
                )
            if other not in self.upstream_after:
                self.upstream_after.append(other)
        return self

    def set_name(self, name: str) -> PipelineTask:
        """Give the task an explicit name (unique in the pipeline)."""
        self.builder.rename(self, name)
        self._name = name
        return self

    def set_resources(
        self,
        cpu: str | float | None = None,
        memory: str | float | None = None,
        gpu: int | None = None,
        accelerator: str | None = None,
    ) -> PipelineTask:
        """Request CPU, memory, GPUs and an accelerator type; unset ones stay as they were."""
        update: dict[str, Any] = {}
        if cpu is not None:
            update["cpu"] = quantities.cpu_quantity(cpu, self._what("cpu"))
        if memory is not None:
            update["memory"] = quantities.memory_quantity(memory, self._what("memory"))
        if gpu is not None:
            update["gpu"] = quantities.gpu_count(gpu, self._what("gpu"))
        if accelerator is not None:
            update["accelerator"] = quantities.accelerator_label(
                accelerator, self._what("accelerator")
            )
        self.resources = self.resources.model_copy(update=update)
        return self

    def set_retry(
        self,
        max_attempts: int,
        backoff: str | float = _DEFAULT_RETRY.backoff_seconds,
        factor: float = _DEFAULT_RETRY.factor,
        max_backoff: str | float = _DEFAULT_RETRY.max_backoff_seconds,
    ) -> PipelineTask:
        """Retry failed attempts: wait ``min(backoff * factor**(n-1), max_backoff)``."""
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise CompileError(
                f"{self._what('max_attempts')} must be an integer >= 1 (1 means no "
                f"retries), got {max_attempts!r}"
            )
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float)
            or not (math.isfinite(factor) and factor >= 1)
        ):
            raise CompileError(f"{self._what('factor')} must be a number >= 1, got {factor!r}")
        backoff_s = quantities.parse_duration(backoff, self._what("backoff"))
        max_s = quantities.parse_duration(max_backoff, self._what("max_backoff"))
        if max_s < backoff_s:
            raise CompileError(
                f"{self._what('max_backoff')} ({max_backoff!r}) is shorter than backoff "
                f"({backoff!r})"
            )
        self.retry = RetryPolicy(
            max_attempts=max_attempts,
            backoff_seconds=backoff_s,
            factor=float(factor),
            max_backoff_seconds=max_s,
        )
        return self

    def set_timeout(self, timeout: str | float) -> PipelineTask:
        """Fail an attempt that runs longer than ``timeout`` ("1h", "90s" or seconds)."""
        seconds = quantities.parse_duration(timeout, self._what("timeout"))
        if seconds <= 0:
            raise CompileError(f"{self._what('timeout')} must be positive, got {timeout!r}")
        self.timeout_seconds = seconds
        return self

    def set_env(self, env: Mapping[str, str] | None = None, /, **more: str) -> PipelineTask:
        """Set environment variables of the step (merged with earlier calls)."""
        for key, value in {**(env or {}), **more}.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise CompileError(f"{self._what('env')}: {key!r} is not a variable name")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise CompileError(
                    f"{self._what('env')}: {key} must be a string, got {type(value).__name__}"
                )
            self.env[key] = str(value)
        return self

    def ignore_upstream_failure(self) -> PipelineTask:
        """Run once every upstream task finished, even if some failed or were skipped.

        Inputs read from an upstream that did not succeed take the component's
        default, so each such input must have one. The run still fails when an
        upstream did.
        """
        from runner.dsl.refs import TaskOutput as Output

        for name, binding in self.arguments.items():
            arg = self.component.signature.argument(name)
            if isinstance(binding, Output) and arg is not None and not arg.optional:
                raise CompileError(
                    f"{self._what('ignore_upstream_failure()')}: input '{name}' comes from task "
                    f"'{binding.task.name}' and has no default, so it would have no value if "
                    f"'{binding.task.name}' failed; give '{name}' a default in the component"
                )
        self.ignores_upstream_failure = True
        return self

    def set_caching(self, enabled: bool = True) -> PipelineTask:
        """Turn the cache on or off for this task."""
        if not isinstance(enabled, bool):
            raise CompileError(f"{self._what('caching')} must be True or False")
        self.caching = enabled
        return self

    def set_image(self, image: str) -> PipelineTask:
        """Run this task in ``image`` instead of the component's image."""
        if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
            raise CompileError(f"{self._what('image')} must be an image reference, got {image!r}")
        self.image = image
        return self

    def set_kubernetes(
        self,
        node_selector: Mapping[str, str] | None = None,
        tolerations: list[Toleration | Mapping[str, Any]] | None = None,
    ) -> PipelineTask:
        """Pin the step's pod to nodes (``node_selector``) and tolerate their taints."""
        update: dict[str, Any] = {}
        if node_selector is not None:
            for key, value in node_selector.items():
                if not isinstance(key, str) or not key:
                    raise CompileError(f"{self._what('node_selector')}: bad label key {key!r}")
                quantities.accelerator_label(value, self._what(f"node_selector[{key!r}]"))
            update["node_selector"] = dict(node_selector)
        if tolerations is not None:
            update["tolerations"] = [self._toleration(t) for t in tolerations]
        self.kubernetes = self.kubernetes.model_copy(update=update)
        return self

    def _toleration(self, value: Toleration | Mapping[str, Any]) -> Toleration:
        if isinstance(value, Toleration):
            return value
        try:
            return Toleration.model_validate(value)
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            raise CompileError(f"{self._what('toleration')} {value!r}: {problems}") from None
