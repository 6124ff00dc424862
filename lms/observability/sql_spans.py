"""A span per SQL statement run inside a traced operation. Imported only with tracing on.

It yields the span OpenTelemetry's SQLAlchemy instrumentation makes (name `SELECT <db>`,
kind CLIENT, `db.system`, `db.name`, `db.user`, `db.statement` with placeholders,
`db.operation`, `net.peer.name`, `net.peer.port`) for a fraction of its CPU: the library
looks up the URL's attributes, the database name, the instrumentation switch and the
context several times per statement and sets attributes one by one on a live span. Here the
engine's attributes are built once, and the span is handed to the batch processor finished
(a statement's span has no children, so it never needs to be a live, current span).

On PostgreSQL the spans come from psycopg's cursor itself (`cursor_classes`, the
connections' `cursor_factory`): engine event listeners, however cheap, switch SQLAlchemy's
every connection onto its event-dispatching paths (begin, execute, commit), which cost more
than the spans (a sixth of a millisecond per enqueued job). Elsewhere (SQLite, the embedded
default) two engine events of ours make them (`SqlSpans`).

A statement outside any recording span (a job's claim before its span opens, a deferred
write, housekeeping, the pool's liveness ping) makes none: alone in a trace of its own it
joins nothing, and such statements were half the spans a short job cost."""

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


class Recorder:
    """Makes the spans of one database's statements and hands them to `processor.on_end`."""

    def __init__(self, attributes: dict, processor: SpanProcessor, resource) -> None:
        self.base = attributes
        self.database = attributes.get("db.name") or attributes["db.system"]
        self.on_end = processor.on_end
        self.resource = resource
        self.skip: str | None = None  # the pool's liveness ping (set once the engine exists)

    def start(self) -> tuple | None:
        """(parent context, start ns) when a recording span is current, else None."""
        parent = trace.get_current_span()
        if getattr(parent, "covers_sql", False):  # an enqueue: its span is its INSERT's
            return None
        if parent.is_recording():  # our sampler never records a span it does not sample
            return parent.get_span_context(), time.time_ns()
        return None

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


def failure(error: BaseException) -> Status:
    return Status(StatusCode.ERROR, str(error))


class SqlSpans:
    """Listens on one engine (SQLite); spans go straight to `processor.on_end`."""

    def __init__(self, engine, processor: SpanProcessor, resource) -> None:
        self.recorder = Recorder(engine_attributes(engine), processor, resource)
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)
        event.listen(engine, "handle_error", self.failed)

    def before(self, _conn, _cursor, _statement, _params, context, _many) -> None:
        started = self.recorder.start()
        if started is not None:
            setattr(context, _MARK, started)

    def after(self, _conn, _cursor, statement, _params, context, _many) -> None:
        started = getattr(context, _MARK, None)
        if started is not None:
            self.recorder.finish(started, statement, None)

    def failed(self, exception_context) -> None:
        started = getattr(exception_context.execution_context, _MARK, None)
        if started is not None:
            error = failure(exception_context.original_exception)
            self.recorder.finish(started, exception_context.statement or "", error)


def url_attributes(url) -> dict:
    """`engine_attributes` from a URL, before its engine exists (the cursor classes are
    connection arguments)."""
    found = {
        "net.peer.name": url.host,
        "net.peer.port": url.port,
        "db.name": url.database,
        "db.user": url.username,
        "db.system": vendor(url.get_backend_name()),
    }
    return {key: value for key, value in found.items() if value}


def cursor_classes(recorder: Recorder) -> tuple[type, type]:
    """psycopg cursor classes (sync, async) whose statements make spans through `recorder`."""
    import psycopg

    def traced(started, query, run):
        text = query if isinstance(query, str) else str(query)
        if text == recorder.skip:
            return run()
        try:
            result = run()
        except Exception as error:
            recorder.finish(started, text, failure(error))
            raise
        recorder.finish(started, text, None)
        return result

    class TracedCursor(psycopg.Cursor):
        def execute(self, query, params=None, **options):
            started = recorder.start()
            if started is None:
                return super().execute(query, params, **options)
            run = super().execute
            return traced(started, query, lambda: run(query, params, **options))

        def executemany(self, query, params_seq, **options):
            started = recorder.start()
            if started is None:
                return super().executemany(query, params_seq, **options)
            run = super().executemany
            return traced(started, query, lambda: run(query, params_seq, **options))

    async def traced_async(started, query, run):
        text = query if isinstance(query, str) else str(query)
        if text == recorder.skip:
            return await run()
        try:
            result = await run()
        except Exception as error:
            recorder.finish(started, text, failure(error))
            raise
        recorder.finish(started, text, None)
        return result

    class TracedAsyncCursor(psycopg.AsyncCursor):
        async def execute(self, query, params=None, **options):
            started = recorder.start()
            if started is None:
                return await super().execute(query, params, **options)
            run = super().execute
            return await traced_async(started, query, lambda: run(query, params, **options))

        async def executemany(self, query, params_seq, **options):
            started = recorder.start()
            if started is None:
                return await super().executemany(query, params_seq, **options)
            run = super().executemany
            return await traced_async(started, query, lambda: run(query, params_seq, **options))

    return TracedCursor, TracedAsyncCursor
