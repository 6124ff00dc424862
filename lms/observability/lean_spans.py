"""Live spans for Lyceum's own operations (a GraphQL operation, an enqueue, a job, a pipeline
step, a bus event), made for less CPU than the SDK's. Imported only with tracing on.

The SDK's span guards every attribute with a lock, cleans and bounds each value, resolves
span limits and builds the span through `start_as_current_span`'s decorator machinery:
about 50 µs per span on this machine, against a short job's ~4 ms of CPU in all, and a
job costs two spans (its enqueue, which stands for its INSERT, and the job). Ours are made by our
code only, with a few string attributes each, on one thread: a plain dict is enough.
Sampling is still the provider's sampler (a root follows `LMS_OTEL_SAMPLE_RATIO`, a child
its parent), and an ended span goes to the batch processor as the SDK's do (`ReadableSpan`,
the same export path as the SQL spans).
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

SCOPE = InstrumentationScope("lms")
UNSET = Status(StatusCode.UNSET)
SAMPLED, NOT_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED), trace.TraceFlags(0)


class LeanSpan(trace.Span):
    """A recording span that becomes a `ReadableSpan` for the processor when it ends."""

    __slots__ = (
        "_attributes",
        "_context",
        "covers_sql",
        "_end",
        "_events",
        "_kind",
        "_maker",
        "_name",
        "_parent",
        "_start",
        "_status",
    )

    def __init__(self, maker, name, context, parent, kind, attributes) -> None:
        self._maker, self._name, self._context, self._parent = maker, name, context, parent
        self._kind, self._attributes = kind, attributes
        self._events: list[Event] = []
        self._status, self._end = UNSET, None
        # True: the span stands for the statements run within it (an enqueue's one INSERT),
        # which then make no SQL span of their own (`sql_spans.Recorder.start`).
        self.covers_sql = False
        self._start = time.time_ns()

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None and self._end is None:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self._end is None:
            self._events.append(Event(name, attributes, timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes=None) -> None:  # not used here
        pass

    def update_name(self, name: str) -> None:
        self._name = name

    def set_status(self, status, description: str | None = None) -> None:
        if self._end is not None:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        # As the SDK: an OK status is final, UNSET never replaces another.
        if self._status.status_code is not StatusCode.OK and status.status_code is not (
            StatusCode.UNSET
        ):
            self._status = status

    def record_exception(
        self, exception: BaseException, attributes=None, timestamp=None, escaped=False
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        found = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        self.add_event("exception", {**found, **(attributes or {})}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time or time.time_ns()
        self._maker.on_end(
            ReadableSpan(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=self._maker.resource,
                attributes=self._attributes,
                events=tuple(self._events),
                kind=self._kind,
                status=self._status,
                start_time=self._start,
                end_time=self._end,
                instrumentation_scope=SCOPE,
            )
        )


class SpanMaker:
    """Starts lean spans for one tracer provider (its sampler, resource and processor)."""

    def __init__(self, provider, processor) -> None:
        self.sampler = provider.sampler
        self.resource = provider.resource
        self.on_end = processor.on_end

    def start(
        self,
        name: str,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> trace.Span:
        """A span, child of `parent` (else of the current span); not made current."""
        if parent is None:
            parent = trace.get_current_span().get_span_context()
        if parent.is_valid:  # ParentBased: a child is sampled when its parent is
            trace_id, state = parent.trace_id, parent.trace_state
            sampled = parent.trace_flags.sampled
        else:  # a root: the provider's sampler (LMS_OTEL_SAMPLE_RATIO)
            trace_id, parent = random.getrandbits(128) or 1, None
            decision = self.sampler.should_sample(None, trace_id, name, kind, attributes)
            sampled, state = decision.decision.is_sampled(), decision.trace_state
        context = SpanContext(
            trace_id,
            random.getrandbits(64) or 1,  # 0 is the invalid span id
            False,
            SAMPLED if sampled else NOT_SAMPLED,
            state,
        )
        if not sampled:
            return NonRecordingSpan(context)
        return LeanSpan(self, name, context, parent, kind, attributes)
