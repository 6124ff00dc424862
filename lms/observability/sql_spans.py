"""SQL spans only inside a traced operation, and none of the pool bookkeeping nobody reads.
Imported only with tracing on.

A statement outside any span (a job's claim before its span opens, a deferred write, a
housekeeping pass) would start a trace of its own: one span that joins nothing, yet costs
as much as one that does (a short job made three such, half its spans). The library also
counts pool checkouts and check-ins as OpenTelemetry metrics, four events around every
statement; Lyceum exports no OpenTelemetry metrics (its metrics are Prometheus's), so
those listeners are not installed."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

POOL_EVENTS = frozenset({"connect", "close", "checkin", "checkout"})


class NestedEngineTracer(EngineTracer):
    @classmethod
    def _register_event_listener(cls, target, identifier, func, *args, **kw) -> None:
        if identifier not in POOL_EVENTS:
            super()._register_event_listener(target, identifier, func, *args, **kw)

    def _before_cur_exec(self, conn, cursor, statement, params, context, executemany):
        if not trace.get_current_span().is_recording():
            return statement, params
        return super()._before_cur_exec(conn, cursor, statement, params, context, executemany)
