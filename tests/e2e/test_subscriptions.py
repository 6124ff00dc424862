"""Subscriptions over websocket (graphql-transport-ws) with a real client library (gql)."""

from __future__ import annotations

import asyncio

import pytest
from gql import Client, gql
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.websockets import WebsocketsTransport

from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.support import create_user, start_worker

JOB_EVENTS = gql(
    "subscription($q: String) { jobEvents(queueName: $q) { jobId status queueName kind attempt } }"
)


def transport(api, token: str | None) -> WebsocketsTransport:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(
        url=api.ws_url, init_payload=payload, subprotocols=["graphql-transport-ws"]
    )


@pytest.fixture(scope="module")
def worker():
    process = start_worker("default")
    yield process
    process.stop()


def enqueue_noop() -> str:
    with session_scope() as session:
        return str(enqueue(session, "system.noop").id)


async def test_admin_receives_job_events_published_by_a_worker_process(api, worker):
    _, token = create_user(Role.ADMIN)
    async with Client(transport=transport(api, token)) as session:
        stream = session.subscribe(JOB_EVENTS, variable_values={"q": "default"})
        # The server registers the subscription asynchronously: probe until events flow.
        probe = asyncio.ensure_future(stream.__anext__())
        while not probe.done():
            await asyncio.to_thread(enqueue_noop)
            await asyncio.wait({probe}, timeout=0.5)
        probe.result()  # an error in the stream surfaces here
        job_id = await asyncio.to_thread(enqueue_noop)
        seen: list[str] = []
        async with asyncio.timeout(60):
            async for event in stream:
                event = event["jobEvents"]
                if event["jobId"] == job_id:
                    seen.append(event["status"])
                    assert (event["queueName"], event["kind"]) == ("default", "system.noop")
                if "SUCCEEDED" in seen:
                    break
    assert seen == ["QUEUED", "RUNNING", "SUCCEEDED"]


async def test_only_admins_may_watch_job_events(api):
    _, student = create_user(Role.STUDENT)
    for token, code in ((student, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        async with Client(transport=transport(api, token)) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(JOB_EVENTS):
                    pass
            assert refused.value.errors[0]["extensions"]["code"] == code


async def test_a_bad_token_in_connection_init_closes_the_connection(api):
    with pytest.raises((TransportClosed, TransportConnectionFailed, TransportServerError)):
        async with Client(transport=transport(api, "not-a-token")) as session:
            async for _ in session.subscribe(JOB_EVENTS):
                pass
