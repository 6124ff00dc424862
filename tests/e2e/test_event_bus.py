"""The keyed event bus, through the API as clients see it: per-key delivery and bindings, and
subscriptions that survive a broker restart (on a private RabbitMQ node, never the shared one).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from lms.config import get_settings
from lms.db import session_scope
from lms.events.bus import KEYED_EXCHANGE
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.enrollments.support import complete, enroll, make_course
from tests.rabbitmq_node import RabbitNode
from tests.support import GraphQLClient, create_user, start_api, start_worker

PROGRESS = gql(
    "subscription($e: ID!) { enrollmentProgressUpdated(enrollmentId: $e) "
    "{ enrollmentId completedLessons totalLessons } }"
)
JOB_EVENTS = gql('subscription { jobEvents(queueName: "default") { jobId status } }')


def transport(base_ws_url: str, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=base_ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=["graphql-transport-ws"],
    )


async def next_event(stream, field: str, timeout: float = 60) -> dict:
    async with asyncio.timeout(timeout):
        return (await stream.__anext__())[field]


def bound_keys() -> set[str]:
    """Routing keys bound on the keyed exchange in this run's vhost (tools' `#` aside)."""
    vhost = urlsplit(get_settings().broker_url).path[1:] or "/"
    listed = subprocess.run(
        ["rabbitmqctl", "list_bindings", "-p", vhost, "source_name", "routing_key"]
        + ["--formatter", "json", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {
        row["routing_key"]
        for row in json.loads(listed.stdout)
        if row["source_name"] == KEYED_EXCHANGE.name and row["routing_key"] != "#"
    }


def course_with_students(api, count: int):
    owner, _ = create_user(Role.EDUCATOR)
    course = make_course(owner.id, lessons=[("One", "TEXT", False), ("Two", "TEXT", False)])
    students = []
    for _ in range(count):
        _, token = create_user(Role.STUDENT)
        students.append((token, enroll(api, token, course.id)["id"]))
    return course, students


async def test_a_process_binds_only_watched_keys_and_each_client_gets_only_its_own(api):
    course, [(ada, ada_e), (bob, bob_e)] = await asyncio.to_thread(course_with_students, api, 2)
    async with (
        Client(transport=transport(api.ws_url, ada)) as ada_ws,
        Client(transport=transport(api.ws_url, bob)) as bob_ws,
    ):
        ada_stream = ada_ws.subscribe(PROGRESS, variable_values={"e": ada_e})
        bob_stream = bob_ws.subscribe(PROGRESS, variable_values={"e": bob_e})
        # Progress streams start with the current state, sent once the key is bound.
        first = await next_event(ada_stream, "enrollmentProgressUpdated")
        assert (first["enrollmentId"], first["completedLessons"]) == (ada_e, 0)
        await next_event(bob_stream, "enrollmentProgressUpdated")
        assert bound_keys() == {f"enrollment.progress.{ada_e}", f"enrollment.progress.{bob_e}"}

        # Bob's change is published before Ada's: Ada's next event is still her own.
        await asyncio.to_thread(complete, api, bob, bob_e, course.lessons[0])
        await asyncio.to_thread(complete, api, ada, ada_e, course.lessons[0])
        bobs = await next_event(bob_stream, "enrollmentProgressUpdated")
        adas = await next_event(ada_stream, "enrollmentProgressUpdated")
        assert (bobs["enrollmentId"], bobs["completedLessons"]) == (bob_e, 1)
        assert (adas["enrollmentId"], adas["completedLessons"]) == (ada_e, 1)

    # The last subscriber of a key gone, the process unbinds it.
    async with asyncio.timeout(30):
        while bound_keys():
            await asyncio.sleep(0.2)  # polling the broker's state: there is no event to await


@pytest.fixture
def private_broker():
    with RabbitNode() as node:
        yield node


async def wait_health(http: httpx.AsyncClient, events: str) -> httpx.Response:
    """Poll `/healthz` until its `events` field says `events`."""
    async with asyncio.timeout(90):
        while True:
            response = await http.get("/healthz")
            if response.json()["events"] == events:
                return response
            await asyncio.sleep(0.2)


async def test_subscriptions_keep_receiving_after_a_broker_restart(private_broker):
    env = {"LMS_BROKER_URL": private_broker.url}
    settings = get_settings().model_copy(update={"broker_url": private_broker.url})
    api_process, base_url = start_api(env)
    worker = start_worker("default", env)
    api = GraphQLClient(base_url)
    try:
        course, [(student, enrollment)] = await asyncio.to_thread(course_with_students, api, 1)
        _, admin = create_user(Role.ADMIN)

        def enqueue_noop() -> str:
            with session_scope(settings) as session:
                return str(enqueue(session, "system.noop", settings=settings).id)

        async def job_statuses(stream) -> list[str]:
            job_id, seen = await asyncio.to_thread(enqueue_noop), []
            while "SUCCEEDED" not in seen:
                event = await next_event(stream, "jobEvents")
                if event["jobId"] == job_id:
                    seen.append(event["status"])
            return seen

        async with (
            Client(transport=transport(api.ws_url, student)) as student_ws,
            Client(transport=transport(api.ws_url, admin)) as admin_ws,
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        ):
            progress = student_ws.subscribe(PROGRESS, variable_values={"e": enrollment})
            jobs = admin_ws.subscribe(JOB_EVENTS)
            assert (await next_event(progress, "enrollmentProgressUpdated"))[
                "completedLessons"
            ] == 0
            # The server registers a subscription asynchronously: probe until events flow.
            probe = asyncio.ensure_future(jobs.__anext__())
            while not probe.done():
                await asyncio.to_thread(enqueue_noop)
                await asyncio.wait({probe}, timeout=0.5)
            assert (await http.get("/healthz")).json()["events"] == "ok"

            private_broker.stop()
            down = await wait_health(http, "degraded")
            assert down.status_code == 503 and down.json()["broker"].startswith("error")
            # A change while the bus is down: its event is lost, the database has it.
            await asyncio.to_thread(complete, api, student, enrollment, course.lessons[0])

            await asyncio.to_thread(private_broker.start)
            up = await wait_health(http, "ok")
            assert up.status_code == 200 and up.json()["status"] == "ok"
            # The progress stream makes up for the missed event with the current state...
            recovered = await next_event(progress, "enrollmentProgressUpdated")
            assert (recovered["enrollmentId"], recovered["completedLessons"]) == (enrollment, 1)
            # ...and new events from a worker flow again on the same subscriptions.
            assert await job_statuses(jobs) == ["QUEUED", "RUNNING", "SUCCEEDED"]
            await asyncio.to_thread(complete, api, student, enrollment, course.lessons[1])
            after = await next_event(progress, "enrollmentProgressUpdated")
            assert after["completedLessons"] == 2
        assert "connection already closed" not in api_process.output
    finally:
        api.close()
        worker.stop()
        api_process.stop()
