"""SQL spans only inside a traced operation. Imported only with tracing on.

A statement outside any span (a job's claim before its span opens, a deferred write, a
housekeeping pass) would start a trace of its own: one span that joins nothing, yet costs
as much as one that does (a short job made three such, half its spans)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer


class NestedEngineTracer(EngineTracer):
    def _before_cur_exec(self, conn, cursor, statement, params, context, executemany):
        if not trace.get_current_span().is_recording():
            return statement, params
        return super()._before_cur_exec(conn, cursor, statement, params, context, executemany)
