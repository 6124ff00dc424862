"""SQL spans (lms/observability/sql_spans.py): the span OpenTelemetry's SQLAlchemy
instrumentation made, with the real SDK, collected by the SDK's own processor: from our
engine events on a real SQLite engine, and from psycopg's cursors on PostgreSQL."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from lms.observability.sql_spans import SqlSpans


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans = []

    def export(self, spans) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def collected() -> tuple[Kept, SimpleSpanProcessor, TracerProvider]:
    """A provider whose spans end up in `Kept` through the SDK's own processor."""
    kept = Kept()
    processor = SimpleSpanProcessor(kept)
    provider = TracerProvider(resource=Resource.create({"lms.component": "test"}))
    provider.add_span_processor(processor)
    return kept, processor, provider


@pytest.fixture
def traced(tmp_path):
    kept, processor, provider = collected()
    engine = create_engine(f"sqlite:///{tmp_path / 'spans.db'}")
    SqlSpans(engine, processor, provider.resource)
    yield engine, provider.get_tracer("test"), kept
    engine.dispose()


def test_a_statement_in_an_operation_is_its_child_with_placeholders(traced, tmp_path):
    engine, tracer, kept = traced
    with tracer.start_as_current_span("query Courses"), engine.connect() as connection:
        connection.execute(text("SELECT :secret AS value"), {"secret": "student@example.org"})
    [statement] = [s for s in kept.spans if s.kind is SpanKind.CLIENT]
    [operation] = [s for s in kept.spans if s.name == "query Courses"]
    database = str(tmp_path / "spans.db")
    assert statement.name == f"SELECT {database}"
    assert statement.parent.span_id == operation.context.span_id
    assert statement.context.trace_id == operation.context.trace_id
    assert dict(statement.attributes) == {
        "db.name": database,
        "db.system": "sqlite",
        "db.statement": "SELECT ? AS value",
        "db.operation": f"SELECT {database}",
    }
    assert "student@example.org" not in repr(dict(statement.attributes))
    assert statement.start_time <= statement.end_time
    assert statement.resource.attributes["lms.component"] == "test"


def test_a_statement_outside_any_operation_makes_no_span(traced):
    engine, _tracer, kept = traced
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert kept.spans == []


def test_a_failed_statement_is_an_error_span(traced):
    engine, tracer, kept = traced
    with tracer.start_as_current_span("mutation Broken"), engine.connect() as connection:
        with pytest.raises(OperationalError):
            connection.execute(text("SELECT * FROM no_such_table"))
    [statement] = [s for s in kept.spans if s.kind is SpanKind.CLIENT]
    assert statement.status.status_code is StatusCode.ERROR
    assert "no_such_table" in statement.status.description
    assert statement.attributes["db.statement"] == "SELECT * FROM no_such_table"


# On PostgreSQL the spans come from psycopg's cursors (the connections' cursor_factory), as
# `lms.db` builds its engines with tracing on: the same spans, no engine event listener.


@pytest.fixture
def traced_postgres(database):
    from sqlalchemy.ext.asyncio import create_async_engine

    from lms.db import driver_url
    from lms.observability.sql_spans import Recorder, cursor_classes, url_attributes

    kept, processor, provider = collected()
    url = make_url(driver_url(database, asynchronous=False))
    recorder = Recorder(url_attributes(url), processor, provider.resource)
    sync_cursor, async_cursor = cursor_classes(recorder)
    engine = create_engine(url, pool_pre_ping=True, connect_args={"cursor_factory": sync_cursor})
    recorder.skip = engine.dialect._dialect_specific_select_one
    with engine.connect():  # the dialect's first-connect queries, as a process's first request
        pass
    async_engine = create_async_engine(url, connect_args={"cursor_factory": async_cursor})
    yield engine, async_engine, provider.get_tracer("test"), kept, url
    engine.dispose()


def test_a_postgres_statement_is_a_child_span_without_engine_listeners(traced_postgres):
    engine, _async_engine, tracer, kept, url = traced_postgres
    with tracer.start_as_current_span("query Courses"), engine.connect() as connection:
        connection.execute(text("SELECT :secret AS value"), {"secret": "student@example.org"})
    assert not engine._has_events  # SQLAlchemy's execution stays on its plain path
    [statement] = [s for s in kept.spans if s.kind is SpanKind.CLIENT]  # the ping makes none
    [operation] = [s for s in kept.spans if s.name == "query Courses"]
    assert statement.name == f"SELECT {url.database}"
    assert statement.parent.span_id == operation.context.span_id
    assert dict(statement.attributes) == {
        "net.peer.name": url.host,
        "net.peer.port": url.port,
        "db.name": url.database,
        "db.user": url.username,
        "db.system": "postgresql",
        "db.statement": "SELECT %(secret)s AS value",
        "db.operation": f"SELECT {url.database}",
    }
    assert "student@example.org" not in repr(dict(statement.attributes))


def test_a_postgres_statement_outside_any_operation_makes_no_span(traced_postgres):
    engine, _async_engine, _tracer, kept, _url = traced_postgres
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert kept.spans == []


def test_a_failed_postgres_statement_is_an_error_span_and_still_raises(traced_postgres):
    engine, _async_engine, tracer, kept, _url = traced_postgres
    with tracer.start_as_current_span("mutation Broken"), engine.connect() as connection:
        with pytest.raises(ProgrammingError):
            connection.execute(text("SELECT * FROM no_such_table"))
    [statement] = [s for s in kept.spans if s.kind is SpanKind.CLIENT]
    assert statement.status.status_code is StatusCode.ERROR
    assert "no_such_table" in statement.status.description


async def test_an_async_postgres_statement_is_a_child_span(traced_postgres):
    _engine, async_engine, tracer, kept, url = traced_postgres
    try:
        async with async_engine.connect():  # its dialect's first-connect queries
            pass
        with tracer.start_as_current_span("query Course"):
            async with async_engine.connect() as connection:
                await connection.execute(text("SELECT 2"))
    finally:
        await async_engine.dispose()
    [statement] = [s for s in kept.spans if s.kind is SpanKind.CLIENT]
    [operation] = [s for s in kept.spans if s.name == "query Course"]
    assert statement.parent.span_id == operation.context.span_id
    assert statement.attributes["db.statement"] == "SELECT 2"
