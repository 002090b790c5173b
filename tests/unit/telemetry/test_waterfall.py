"""The critical path and the tree order, on hand-made spans."""

from __future__ import annotations

from typing import Any

from runner.telemetry.waterfall import SpanView, build_waterfall, critical_path, parse_spans

S = 1_000_000_000


def step(name: str, start: float, end: float, *upstream: str, **attrs: Any) -> SpanView:
    attributes = {"runner.step": name, "runner.task": name.partition("[")[0]}
    attributes["runner.upstream"] = list(upstream)
    attributes.update(attrs)
    return SpanView(
        "t", f"id-{name}-{start}", "root", f"step {name}", int(start * S), int(end * S), attributes
    )


def test_the_path_follows_the_upstream_that_finished_last() -> None:
    # a -> (fast, slow) -> join; c runs on the side and ends early.
    spans = [
        step("a", 0, 1),
        step("fast", 1, 2, "a"),
        step("slow", 1, 5, "a"),
        step("c", 0, 3),
        step("join", 5, 6, "fast", "slow"),
    ]
    assert critical_path(spans) == ["a", "slow", "join"]


def test_retries_stay_on_the_path_and_loop_instances_are_matched_by_time() -> None:
    spans = [
        step("prep", 0, 1),
        step("train[0]", 1, 2, "prep"),
        step("train[1]", 1, 4, "prep"),
        step("report", 4, 5, "train"),
        step("report", 5, 7, "train", **{"runner.attempt": 2}),
    ]
    assert critical_path(spans) == ["prep", "train[1]", "report"]


def test_without_upstream_attributes_time_alone_decides() -> None:
    a = SpanView("t", "1", "", "step a", 0, 2 * S, {"runner.step": "a"})
    b = SpanView("t", "2", "", "step b", 2 * S, 3 * S, {"runner.step": "b"})
    assert critical_path([a, b]) == ["a", "b"]
    assert critical_path([]) == []


def test_rows_follow_the_tree_and_a_span_exported_twice_is_shown_once() -> None:
    def span(span_id: str, parent: str, name: str, start: int) -> dict[str, Any]:
        return {
            "traceId": "t",
            "spanId": span_id,
            "parentSpanId": parent,
            "name": name,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 10),
        }

    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            span("r", "", "run p", 0),
                            span("b", "r", "step b", 5),
                            span("a", "r", "step a", 1),
                            span("x", "a", "fetch inputs", 2),
                            span("h", "r", "handle run.requested", 0),
                        ]
                    }
                ],
            }
        ]
    }
    spans = parse_spans([request, request])
    assert len(spans) == 5
    waterfall = build_waterfall(spans)
    assert [(row.span.name, row.depth) for row in waterfall.rows] == [
        ("run p", 0),
        ("step a", 1),
        ("fetch inputs", 2),
        ("step b", 1),
    ]
    assert len(build_waterfall(spans, controller_work=True).rows) == 5
