"""A span per SQL statement run inside a traced operation, made by two engine events of our
own. Imported only with tracing on.

It yields the span OpenTelemetry's SQLAlchemy instrumentation makes (name `SELECT <db>`,
kind CLIENT, `db.system`, `db.name`, `db.user`, `db.statement` with placeholders,
`db.operation`, `net.peer.name`, `net.peer.port`) for about a third of its CPU: the
library looks up the URL's attributes, the database name, the instrumentation switch
and the context several times per statement, sets attributes one by one on a live span,
and listens to four pool events Lyceum never reads. Here the engine's attributes are
built once, and the span is handed to the batch processor finished (a statement's span
has no children, so it never needs to be a live, current span).

A statement outside any recording span (a job's claim before its span opens, a deferred
write, housekeeping) makes none: alone in a trace of its own it joins nothing, and such
statements were half the spans a short job cost."""

from __future__ import annotations

import random
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from sqlalchemy import event

SCOPE = InstrumentationScope("lms.sqlalchemy")
UNSET = Status(StatusCode.UNSET)
_MARK = "_lms_sql_span"  # (parent context, start ns) on the statement's execution context


def vendor(name: str) -> str:
    """The library's `db.system` for a dialect name."""
    if "sqlite" in name:
        return "sqlite"
    return "postgresql" if "postgres" in name else name


def engine_attributes(engine) -> dict:
    """What every span of this engine carries (the library's old semantic conventions)."""
    url = engine.url
    found = {
        "net.peer.name": url.host,
        "net.peer.port": url.port,
        "db.name": url.database,
        "db.user": url.username,
        "db.system": vendor(engine.name),
    }
    return {key: value for key, value in found.items() if value}


class SqlSpans:
    """Listens on one engine; spans go straight to `processor.on_end`."""

    def __init__(self, engine, processor: SpanProcessor, resource) -> None:
        self.base = engine_attributes(engine)
        self.database = engine.url.database or self.base["db.system"]
        self.on_end = processor.on_end
        self.resource = resource
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)
        event.listen(engine, "handle_error", self.failed)

    def before(self, _conn, _cursor, _statement, _params, context, _many) -> None:
        parent = trace.get_current_span()
        if parent.is_recording():  # our sampler never records a span it does not sample
            setattr(context, _MARK, (parent.get_span_context(), time.time_ns()))

    def after(self, _conn, _cursor, statement, _params, context, _many) -> None:
        started = getattr(context, _MARK, None)
        if started is not None:
            self.finish(started, statement, None)

    def failed(self, exception_context) -> None:
        started = getattr(exception_context.execution_context, _MARK, None)
        if started is not None:
            error = Status(StatusCode.ERROR, str(exception_context.original_exception))
            self.finish(started, exception_context.statement or "", error)

    def finish(self, started: tuple, statement: str, status: Status | None) -> None:
        parent, start = started
        words = statement.split(None, 1)
        operation = f"{words[0]} {self.database}" if words else self.database
        attributes = {**self.base, "db.statement": statement, "db.operation": operation}
        context = SpanContext(
            parent.trace_id,
            random.getrandbits(64) or 1,  # 0 is the invalid span id
            False,
            parent.trace_flags,
            parent.trace_state,
        )
        self.on_end(
            ReadableSpan(
                name=operation,
                context=context,
                parent=parent,
                resource=self.resource,
                attributes=attributes,
                kind=SpanKind.CLIENT,
                status=status or UNSET,
                start_time=start,
                end_time=time.time_ns(),
                instrumentation_scope=SCOPE,
            )
        )
