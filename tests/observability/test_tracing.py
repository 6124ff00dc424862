"""One trace from a GraphQL request through the outbox to the worker: the real SDK in an
API and a worker process, exporting OTLP/HTTP to a local collector
(tests/observability/otlp_server.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from lms.config import ConfigError, get_settings, load_settings
from lms.db import session_scope
from lms.jobs.broker import publisher
from lms.jobs.models import Job
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.observability.otlp_server import OtlpServer
from tests.support import create_user, start_api, start_worker

RESET = "mutation Reset($email: String!) { requestPasswordReset(input: {email: $email}) }"
SERVER, CONSUMER, PRODUCER = 2, 5, 4  # OTLP's SpanKind values


@pytest.fixture
def collector():
    server = OtlpServer()
    yield server
    server.close()


def test_an_endpoint_that_is_not_a_url_is_a_configuration_error():
    with pytest.raises(ConfigError, match="LMS_OTEL_ENDPOINT: an OTLP/HTTP endpoint is a URL"):
        load_settings(otel_endpoint="collector:4318")


def test_a_request_and_the_job_it_asked_for_are_one_trace(collector):
    env = {"LMS_OTEL_ENDPOINT": collector.endpoint}
    user, _ = create_user(Role.STUDENT)
    worker = start_worker("email", env=env)
    api, base_url = start_api(env)
    try:
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": RESET, "variables": {"email": user.email}, "operationName": "Reset"},
            timeout=30,
        )
        assert response.json() == {"data": {"requestPasswordReset": True}}
        [root] = collector.wait_until(
            lambda spans: [s for s in spans if s.name == "mutation Reset"]
        )
        trace = root.trace_id

        def worker_done(spans):
            mine = [s for s in spans if s.trace_id == trace]
            job = [s for s in mine if s.name == "job email.send"]
            return job and any(s.parent_id == job[0].span_id for s in mine) and mine

        spans = collector.wait_until(worker_done)
    finally:
        api.stop()
        worker.stop()
    by_id = {span.span_id: span for span in spans}
    assert (root.parent_id, root.kind, root.component) == ("", SERVER, "api")
    assert root.attributes["graphql.operation.name"] == "Reset"
    [enqueue] = [s for s in spans if s.name == "enqueue email.send"]
    [job] = [s for s in spans if s.name == "job email.send"]
    assert (enqueue.kind, enqueue.component, job.kind, job.component) == (
        PRODUCER, "api", CONSUMER, "worker"
    )  # fmt: skip
    assert job.parent_id == enqueue.span_id  # the worker continues the request's trace
    # The enqueue span stands for its INSERT: no SQL span of its own beneath it.
    assert [s.name for s in spans if s.parent_id == enqueue.span_id] == [job.name]
    assert by_id[enqueue.parent_id] is root
    api_queries = [s for s in spans if s.component == "api" and "db.statement" in s.attributes]
    worker_queries = [s for s in spans if s.parent_id == job.span_id]
    assert api_queries and all(s.parent_id in by_id for s in api_queries)
    assert any("db.statement" in s.attributes for s in worker_queries)
    assert user.email not in repr(spans)  # statements carry placeholders, never values
    statements = [s for s in collector.spans if "db.statement" in s.attributes]
    assert all(s.parent_id for s in statements)  # none outside an operation, alone
    assert job.attributes["lms.job_kind"] == "email.send"
    with session_scope() as session:
        row = session.get(Job, uuid.UUID(job.attributes["lms.job_id"]))
    assert row.traceparent.startswith(f"00-{trace}-{enqueue.span_id}-")  # stored with the job


def test_the_worker_follows_the_trace_context_of_the_message(collector):
    """A job row without trace context (enqueued with tracing off) whose message carries
    one: the worker's span joins the message's trace."""
    dead_broker = get_settings().model_copy(
        update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}
    )
    with session_scope() as session:  # the after-commit publish fails: we send it ourselves
        job_id = enqueue(session, "system.noop", settings=dead_broker).id
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    worker = start_worker("default", env={"LMS_OTEL_ENDPOINT": collector.endpoint})
    try:
        publisher().send_task(
            "system.noop",
            args=[str(job_id)],
            queue="default",
            headers={"traceparent": f"00-{trace}-{parent}-01"},
        )
        [job] = collector.wait_until(
            lambda spans: [s for s in spans if s.attributes.get("lms.job_id") == str(job_id)]
        )
    finally:
        worker.stop()
    assert (job.name, job.trace_id, job.parent_id) == ("job system.noop", trace, parent)
