"""Counting telemetry that never left: spans and error events dropped by a bounded queue
or an export that failed. Called from the SDKs' background threads.

The counter lives in `metrics.py`, imported here at the first loss rather than at start:
a worker switches to multiprocess files (`multiprocess.py`) after tracing and Sentry are
set up, and a metric object made before that would count in memory nobody reads."""

from __future__ import annotations


def dropped(sink: str, reason: str, count: int = 1) -> None:
    """`sink`: otlp or sentry; `reason`: queue_full or export_failed."""
    from lms.observability.metrics import TELEMETRY_DROPPED, count_safely

    if count:
        count_safely(lambda: TELEMETRY_DROPPED.labels(sink, reason), count)
