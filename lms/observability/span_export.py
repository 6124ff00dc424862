"""The OpenTelemetry SDK's batch export, counting what it drops: spans that find the
bounded queue full (a collector slower than the spans come) and batches the exporter could
not deliver (a collector that refuses or does not answer). Imported only with tracing on.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from lms.observability.telemetry_loss import dropped

SINK = "otlp"


class CountingBatchProcessor(BatchSpanProcessor):
    """`BatchSpanProcessor` that counts a span it pushes out of a full queue (the SDK logs
    a warning and drops the oldest one)."""

    def __init__(self, exporter: SpanExporter, **options) -> None:
        super().__init__(exporter, **options)
        # The SDK's bounded deque (kept, only cleared, across a fork); no public handle.
        self._queue = self._batch_processor._queue

    def on_end(self, span: ReadableSpan) -> None:
        sampled = span.context is not None and span.context.trace_flags.sampled
        if sampled and len(self._queue) >= self._queue.maxlen:
            dropped(SINK, "queue_full")
        super().on_end(span)


class CountingExporter(SpanExporter):
    """An exporter whose failed batches (after its own retries) are counted as dropped."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            dropped(SINK, "export_failed", len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
