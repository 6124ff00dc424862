"""GraphQL operations on `/metrics`: count by outcome, errors by code, duration, each by
root field (bounded by the schema, whatever operationName a client sends)."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.service import enqueue
from tests.support import start_api

RESET = "mutation Reset($email: String!) { requestPasswordReset(input: {email: $email}) }"


def samples(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_graphql_operations_are_counted_by_root_field_outcome_and_code():
    api, base_url = start_api()
    try:
        for name in ("Reset", "AnotherNameForTheSameThing"):
            query = RESET.replace("mutation Reset", f"mutation {name}")
            body = {
                "query": query,
                "variables": {"email": f"nope-{uuid.uuid4().hex}"},
                "operationName": name,
            }
            httpx.post(f"{base_url}/graphql", json=body, timeout=30)
        httpx.post(f"{base_url}/graphql", json={"query": "{ noSuchField }"}, timeout=30)
        scraped = samples(httpx.get(f"{base_url}/metrics", timeout=30).text)
    finally:
        api.stop()
    field = ("operation", "requestPasswordReset")
    assert scraped[("lms_graphql_operations_total", (field, ("outcome", "error")))] == 2
    assert scraped[("lms_graphql_errors_total", (("code", "INVALID_EMAIL"), field))] == 2
    assert scraped[("lms_graphql_operation_seconds_count", (field,))] == 2
    refused = (("code", "GRAPHQL_VALIDATION_FAILED"), ("operation", "-"))
    assert scraped[("lms_graphql_errors_total", refused)] == 1
    assert not [key for key in scraped if ("operation", "noSuchField") in key[1]]


def test_the_outbox_backlog_is_on_metrics():
    dead_broker = get_settings().model_copy(
        update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}
    )
    with session_scope() as session:  # committed, never published: the relay's work
        enqueue(session, "system.noop", settings=dead_broker)
    api, base_url = start_api()
    try:
        scraped = samples(httpx.get(f"{base_url}/metrics", timeout=30).text)
    finally:
        api.stop()
    assert scraped[("lms_outbox_unpublished", ())] >= 1
    assert scraped[("lms_outbox_oldest_seconds", ())] >= 0
    assert scraped[("lms_queue_oldest_waiting_seconds", (("queue", "default"),))] >= 0
