"""SQL spans from our engine events (lms/observability/sql_spans.py): the span
OpenTelemetry's SQLAlchemy instrumentation made, with the real SDK and a real SQLite
engine, collected by the SDK's own processor."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from lms.observability.sql_spans import SqlSpans


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans = []

    def export(self, spans) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
def traced(tmp_path):
    kept = Kept()
    processor = SimpleSpanProcessor(kept)
    provider = TracerProvider(resource=Resource.create({"lms.component": "test"}))
    provider.add_span_processor(processor)
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
