"""Lyceum's own live spans (`lms/observability/lean_spans.py`) as the exporter receives them:
parents, sampling by the provider's sampler, attributes, errors."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: E402
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags  # noqa: E402

from lms.observability.lean_spans import SpanMaker  # noqa: E402

REMOTE = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True)


def maker(ratio: float) -> tuple[SpanMaker, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "lyceum-test"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    return SpanMaker(provider, SimpleSpanProcessor(exported)), exported


def remote(sampled: bool) -> SpanContext:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else 0)
    return SpanContext(REMOTE.trace_id, REMOTE.span_id, True, flags)


def test_a_child_started_inside_a_span_joins_its_trace_and_both_are_exported_once():
    spans, exported = maker(1.0)
    root = spans.start("POST graphql", None, SpanKind.SERVER, {"graphql.operation": "catalog"})
    with trace.use_span(root, end_on_exit=True):
        child = spans.start("enqueue system.noop", None, SpanKind.PRODUCER, {"lms.queue": "x"})
        with trace.use_span(child, end_on_exit=True):
            child.set_attribute("lms.job.id", "42")
            assert trace.get_current_span() is child
    done = {span.name: span for span in exported.get_finished_spans()}
    assert len(exported.get_finished_spans()) == 2
    first, second = done["POST graphql"], done["enqueue system.noop"]
    assert first.parent is None and first.kind is SpanKind.SERVER
    assert second.parent.span_id == first.context.span_id
    assert second.context.trace_id == first.context.trace_id
    assert dict(second.attributes) == {"lms.queue": "x", "lms.job.id": "42"}
    assert first.end_time >= second.end_time >= second.start_time >= first.start_time
    assert second.resource.attributes["service.name"] == "lyceum-test"


def test_a_remote_parent_decides_sampling_and_a_root_follows_the_ratio():
    spans, exported = maker(0.0)
    assert not spans.start("job a", None, SpanKind.CONSUMER, {}).is_recording()
    unsampled = spans.start("job b", remote(False), SpanKind.CONSUMER, {})
    assert not unsampled.is_recording()
    assert unsampled.get_span_context().trace_id == REMOTE.trace_id  # the trace still goes on
    followed = spans.start("job c", remote(True), SpanKind.CONSUMER, {})
    followed.end()
    [only] = exported.get_finished_spans()
    assert (only.name, only.parent.span_id, only.context.trace_id) == (
        "job c",
        REMOTE.span_id,
        REMOTE.trace_id,
    )
    assert only.context.trace_flags.sampled


def test_an_exception_in_the_block_marks_the_span_failed_with_the_exception_event():
    spans, exported = maker(1.0)
    with (
        pytest.raises(ValueError),
        trace.use_span(
            spans.start("job media.transcode", None, SpanKind.CONSUMER, {}), end_on_exit=True
        ),
    ):
        raise ValueError("no video stream")
    [failed] = exported.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert "no video stream" in failed.status.description
    [event] = failed.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert "no video stream" in event.attributes["exception.stacktrace"]


def test_an_ended_span_is_exported_once_and_changes_nothing_after():
    spans, exported = maker(1.0)
    span = spans.start("event content.processing", None, SpanKind.PRODUCER, {})
    span.end()
    span.set_attribute("late", "yes")
    span.set_status(StatusCode.ERROR, "late")
    span.end()
    [only] = exported.get_finished_spans()
    assert "late" not in only.attributes and only.status.status_code is StatusCode.UNSET
