"""What an operator reads when requests fail: one line per expected error, one traceback per
unexpected one, each with the request id the client got back."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from lms.users.models import Role
from tests.support import LMS, ROOT, Process, create_user, free_port, start_api

RESET = "mutation Reset($email: String!) { requestPasswordReset(input: {email: $email}) }"


def records_for(api: Process, request_id: str) -> list[dict]:
    api.wait_for(request_id)
    records = [json.loads(line) for line in api.lines]
    return [record for record in records if record.get("request_id") == request_id]


@pytest.fixture(scope="module")
def json_api(tmp_path_factory):
    """An API on its own SQLite database (so a test may break it), logging JSON lines."""
    folder = tmp_path_factory.mktemp("json-api")
    env = {key: None for key in os.environ if key.startswith("LMS_")} | {
        "LMS_LOG_FORMAT": "json",
        "LMS_PASSWORD_HASH_TIME_COST": "1",
        "PYTHONPATH": str(ROOT),
    }
    merged = {key: value for key, value in {**os.environ, **env}.items() if value is not None}
    subprocess.run([*LMS, "migrate"], cwd=folder, env=merged, check=True, timeout=120)
    port = free_port()
    api = Process([*LMS, "serve", "--port", str(port)], env, cwd=folder)
    api.wait_for("Running on")
    yield api, f"http://127.0.0.1:{port}", folder / "var" / "lms.db"
    api.stop()


def test_an_expected_error_is_one_info_line_with_the_request_id_the_client_got(json_api):
    api, base_url, _ = json_api
    for _ in range(3):
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": RESET, "variables": {"email": "not-an-email"}, "operationName": "Reset"},
            timeout=30,
        )
        [error] = response.json()["errors"]
        request_id = error["extensions"]["requestId"]
        assert error["extensions"]["code"] == "INVALID_EMAIL"
        assert response.headers["X-Request-ID"] == request_id
        [record] = records_for(api, request_id)
        assert record["level"] == "INFO"
        assert (record["code"], record["operation"], record["field"]) == (
            "INVALID_EMAIL",
            "Reset",
            "requestPasswordReset",
        )
        assert "exc" not in record
    assert "Traceback" not in api.output


def test_a_burst_of_password_resets_logs_one_line_per_refusal(json_api):
    """The report behind this: 50 reset requests once printed about 100 tracebacks."""
    api, base_url, _ = json_api
    request_ids = []
    for number in range(14):  # LMS_RATE_RESET_IP allows 10 an hour
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": RESET, "variables": {"email": f"user{number}@example.test"}},
            timeout=30,
        )
        for error in response.json().get("errors", []):
            assert error["extensions"]["code"] == "RATE_LIMITED"
            request_ids.append(error["extensions"]["requestId"])
    assert len(request_ids) >= 4
    for request_id in request_ids:
        [record] = records_for(api, request_id)
        assert (record["level"], record["code"]) == ("INFO", "RATE_LIMITED")
    assert "Traceback" not in api.output


def test_a_request_id_sent_by_a_proxy_is_kept(json_api):
    api, base_url, _ = json_api
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": RESET, "variables": {"email": "@"}},
        headers={"X-Request-ID": "ticket-4711-abc"},
        timeout=30,
    )
    assert response.headers["X-Request-ID"] == "ticket-4711-abc"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "ticket-4711-abc"
    [record] = records_for(api, "ticket-4711-abc")
    assert record["operation"] == "requestPasswordReset"  # no operationName: the root field


def test_an_unexpected_error_is_logged_once_with_its_traceback(json_api):
    api, base_url, database = json_api
    with sqlite3.connect(database) as connection:  # a table gone: a real internal failure
        connection.execute("DROP TABLE course_slug_history")
        connection.execute("DROP TABLE courses")
    response = httpx.post(
        f"{base_url}/graphql", json={"query": '{ courseBySlug(slug: "intro") { id } }'}, timeout=30
    )
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error"  # nothing internal reaches the client
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    [record] = records_for(api, error["extensions"]["requestId"])
    assert record["level"] == "ERROR"
    assert record["exc"].startswith("Traceback") and "no such table" in record["exc"]
    # One record for the failure (its chained causes inside it), none from Ariadne or Quart.
    assert [json.loads(line)["level"] for line in api.lines].count("ERROR") == 1


def test_every_line_of_the_json_log_parses(json_api):
    api, _, _ = json_api
    assert api.lines
    for line in api.lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record)


def test_text_log_has_one_line_per_expected_error_with_the_request_id():
    api, base_url = start_api()
    try:
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": RESET, "variables": {"email": "not-an-email"}},
            timeout=30,
        )
        request_id = response.json()["errors"][0]["extensions"]["requestId"]
        api.wait_for(request_id)
    finally:
        api.stop()
    [line] = [line for line in api.lines if request_id in line]
    assert f" INFO lms.graphql [request {request_id}]: INVALID_EMAIL in requestPasswordReset: " in (
        line
    )
    assert "Traceback" not in api.output


async def test_a_subscription_error_carries_the_connection_request_id():
    api, base_url = start_api()
    try:
        _, student = create_user(Role.STUDENT)
        transport = WebsocketsTransport(
            url=base_url.replace("http://", "ws://") + "/graphql",
            init_payload={"Authorization": f"Bearer {student}"},
            subprotocols=["graphql-transport-ws"],
        )
        async with Client(transport=transport) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(gql("subscription { jobEvents { jobId } }")):
                    pass
        [error] = refused.value.errors
        request_id = error["extensions"]["requestId"]
        await asyncio.to_thread(api.wait_for, request_id)
    finally:
        api.stop()
    [line] = [line for line in api.lines if request_id in line]
    assert f"INFO lms.graphql [request {request_id}]: FORBIDDEN in jobEvents: " in line
