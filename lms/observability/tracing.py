"""OpenTelemetry traces, exported over OTLP/HTTP when `LMS_OTEL_ENDPOINT` is set.

A GraphQL operation is a span named by its operation (never the query text); its database
queries are SQL spans (`sql_spans.py`: those of OpenTelemetry's SQLAlchemy instrumentation,
made for less CPU); enqueueing a job is a span whose W3C `traceparent` is stored on the job
row and carried in the Celery message, so the worker's span for the job (and the jobs it
enqueues in turn, such as pipeline steps) continue the request's trace. Those spans of our
own code are lean live spans (`lean_spans.py`), sampled by the provider's sampler.

SQL statements run outside any traced operation (a job's claim before its span opens, a
deferred write, housekeeping) make no span: alone in a trace of their own they say nothing,
and they were half the spans a short job cost. Spans the exporter cannot deliver (a queue
overflow, a collector that does not answer) are counted on `/metrics` as
`lms_telemetry_dropped_total{sink="otlp"}`.

The SDK is an optional extra (`pip install lyceum[tracing]`): with it absent or tracing
off, every helper here is a cheap no-op.
"""

from __future__ import annotations

import contextlib
import logging
import re
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
_enabled = False
_provider = None
_propagator = None
_processor = None  # the batch processor: SQL spans are handed to it finished
_maker = None  # our own spans (`lean_spans.py`)
EXPORT_BATCH = 512  # the SDK's default batch, capped by a smaller queue
_instrumented: weakref.WeakSet = weakref.WeakSet()
_recorders: dict[str, tuple] = {}  # database URL -> (its SQL span recorder, cursor classes)


def enabled() -> bool:
    return _enabled


def init_tracing(settings, component: str) -> bool:
    """Install the tracer provider for this process (`component`: api, worker, scheduler)."""
    global _enabled, _provider, _propagator, _processor, _maker
    if not settings.otel_endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from lms.observability.lean_spans import SpanMaker
        from lms.observability.span_export import CountingBatchProcessor, CountingExporter
    except ImportError as error:
        from lms.config import ConfigError

        raise ConfigError(
            "LMS_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'lyceum[tracing]'"
        ) from error
    resource = Resource.create(
        {"service.name": settings.otel_service_name, "lms.component": component}
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio))
    )
    # Spans wait in a bounded queue for a background exporter: an unreachable collector
    # never slows a request or a job; what overflows or fails to export is dropped, counted.
    exporter = OTLPSpanExporter(endpoint=f"{settings.otel_endpoint}/v1/traces", timeout=5)
    processor = CountingBatchProcessor(
        CountingExporter(exporter),
        max_queue_size=settings.otel_queue_size,
        max_export_batch_size=min(EXPORT_BATCH, settings.otel_queue_size),
    )
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider, _processor, _enabled = provider, processor, True
    _maker = SpanMaker(provider, processor)
    _propagator = TraceContextTextMapPropagator()
    log.info("tracing: exporting %s spans to %s", component, settings.otel_endpoint)
    return True


def sql_connect_args(url: str, *, asynchronous: bool) -> dict:
    """Connection arguments that make a PostgreSQL engine's statements spans: psycopg's
    `cursor_factory` (`sql_spans.cursor_classes`); none with tracing off or on SQLite."""
    parsed = make_url(url)
    if not _enabled or parsed.get_backend_name() != "postgresql":
        return {}
    from lms.observability.sql_spans import Recorder, cursor_classes, url_attributes

    key = parsed.render_as_string(hide_password=False)
    if key not in _recorders:
        recorder = Recorder(url_attributes(parsed), _processor, _provider.resource)
        _recorders[key] = (recorder, cursor_classes(recorder))
    sync, asynchronous_cursor = _recorders[key][1]
    return {"cursor_factory": asynchronous_cursor if asynchronous else sync}


def instrument_engine(engine) -> None:
    """SQL spans for one engine (a sync engine; an async one's `sync_engine`), each engine
    as it is built: on PostgreSQL its cursors make them when it was built with
    `sql_connect_args` (the pool's liveness ping is left out), otherwise event listeners of
    our own (`sql_spans.py`)."""
    if not _enabled or engine in _instrumented:
        return
    from lms.observability.sql_spans import SqlSpans

    found = _recorders.get(engine.url.render_as_string(hide_password=False))
    if found is not None:
        found[0].skip = getattr(engine.dialect, "_dialect_specific_select_one", None)
    else:  # SQLite, or an engine built without our cursors
        SqlSpans(engine, _processor, _provider.resource)
    _instrumented.add(engine)


@contextlib.contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    kind: str = "INTERNAL",
    attributes: Mapping[str, Any] | None = None,
    covers_sql: bool = False,
) -> Iterator[Any]:
    """A span around a block, a child of `traceparent` when given (else of the current
    span); yields the span, or None when tracing is off. `covers_sql`: the block's SQL
    statements make no spans of their own (an enqueue's one INSERT: its span says it)."""
    if not _enabled:
        yield None
        return
    from opentelemetry import trace

    # With a traceparent, its span is the parent (a malformed one starts a trace of its own,
    # as the SDK would); without, the current span.
    parent = _remote_parent(traceparent) if traceparent else None
    attrs = {key: value for key, value in (attributes or {}).items() if value is not None}
    current = _maker.start(name, parent, getattr(trace.SpanKind, kind), attrs)
    if covers_sql and current.is_recording():
        current.covers_sql = True
    # Current for the block (SQL spans, enqueues and events inside are its children); an
    # exception is recorded on it and sets its status, as `start_as_current_span` does.
    with trace.use_span(current, end_on_exit=True):
        yield current


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _remote_parent(traceparent: str):
    """The span context a W3C `traceparent` names: version 00 (all Lyceum writes) parsed
    here, without the propagator's carrier and context round trip; any other by it."""
    from opentelemetry import trace

    found = _TRACEPARENT.fullmatch(traceparent)
    if found is None:
        extracted = _propagator.extract({"traceparent": traceparent})
        return trace.get_current_span(extracted).get_span_context()
    trace_id, span_id, flags = found.groups()
    return trace.SpanContext(
        int(trace_id, 16), int(span_id, 16), True, trace.TraceFlags(int(flags, 16))
    )


def active() -> bool:
    """A recording span is current: what happens now joins a trace (rather than starting a
    trace of its own, as a bus event sent by housekeeping would)."""
    if not _enabled:
        return False
    from opentelemetry import trace

    return trace.get_current_span().is_recording()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to hand the trace to another process."""
    if not _enabled:
        return None
    from opentelemetry import trace

    found = trace.get_current_span().get_span_context()
    if not found.is_valid:  # as the propagator: no span, no header
        return None
    # Version 00, as the propagator writes it (without its carrier and setter round trip).
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{found.trace_flags:02x}"


def mark_error(current, description: str) -> None:
    if current is not None:
        from opentelemetry.trace import Status, StatusCode

        current.set_status(Status(StatusCode.ERROR, description))


def flush(timeout_ms: int = 2000) -> None:
    """Export what is queued before a process ends."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)
