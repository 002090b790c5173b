"""docs/events.md shows the real schemas and real encoded events.

The generated blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
are rendered from the pydantic models and the codec; this test fails when
they drift. Regenerate with ``RUNNER_UPDATE_DOCS=1 pytest tests/unit/events``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from runner.events import DATA_MODELS, EventKind
from runner.events.codec import encode
from tests.unit.events.samples import sample

DOC = Path(__file__).parents[3] / "docs" / "events.md"
EXAMPLES = {
    EventKind.RUN_REQUESTED: "cli",
    EventKind.STEP_SUCCEEDED: "step",
    EventKind.STEP_FAILED: "step",
}


def render_schemas() -> str:
    parts = []
    for kind, model in DATA_MODELS.items():
        schema = json.dumps(model.model_json_schema(), indent=2)
        parts.append(
            f"<details><summary><code>{kind.type}</code> — <code>{model.__name__}</code>"
            f"</summary>\n\n```json\n{schema}\n```\n\n</details>"
        )
    return "\n\n".join(parts)


def render_examples() -> str:
    parts = []
    for kind, component in EXAMPLES.items():
        event = sample(kind, component=component)
        body, headers = encode(event)
        header_lines = "\n".join(f"{k}: {v}" for k, v in headers.items())
        parts.append(
            f"`{kind.type}` on `{event.subject}`\n\n```text\n{header_lines}\n```\n\n"
            f"```json\n{json.dumps(json.loads(body), indent=2)}\n```"
        )
    return "\n\n".join(parts)


BLOCKS = {"schemas": render_schemas, "examples": render_examples}


def replace_block(text: str, name: str, content: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    assert pattern.search(text), f"docs/events.md lacks the {name} markers"
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def test_generated_blocks_are_current() -> None:
    text = DOC.read_text()
    fresh = text
    for name, render in BLOCKS.items():
        fresh = replace_block(fresh, name, render())
    if os.environ.get("RUNNER_UPDATE_DOCS") == "1" and fresh != text:
        DOC.write_text(fresh)
        text = fresh
    assert fresh == text, "docs/events.md is stale: RUNNER_UPDATE_DOCS=1 pytest tests/unit/events"


def test_every_kind_is_in_the_subject_table() -> None:
    text = DOC.read_text()
    for kind in EventKind:
        assert f"| `{kind.value}` |" in text, kind
