"""A broker outage does not slow unrelated requests, and the relay sends what waited.

The API runs against a private RabbitMQ node that the test stops: sign-ups (which enqueue
a verification email) and sign-ins, four at a time, still succeed, `/healthz` names the
broker's own error, and once the node is back the outbox relay publishes every job
committed meanwhile.
"""

from __future__ import annotations

import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.broker import publisher
from lms.jobs.models import Job, JobStatus
from lms.jobs.service import relay_unpublished
from tests.rabbitmq_node import RabbitNode
from tests.faults.support import wait_until
from tests.support import GraphQLClient, start_api

FAST_HASH = {"LMS_PASSWORD_HASH_MEMORY_KIB": "8192", "LMS_PASSWORD_HASH_TIME_COST": "2"}
REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) { accessToken user { id email } } }"""
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { accessToken } }"""
PASSWORD = "violet kettle drums 42"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with RabbitNode(tmp_path_factory.mktemp("rabbit")) as started:
        yield started


@pytest.fixture(scope="module")
def api(node):
    process, base_url = start_api(env={**FAST_HASH, "LMS_BROKER_URL": node.url})
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


# Seconds per request, printed for docs/reliability.md (timings are reported, never asserted).
took: dict[str, list[float]] = {}


def timed(what: str, call):
    started = time.perf_counter()
    result = call()
    took.setdefault(what, []).append(time.perf_counter() - started)
    return result


def register(api: GraphQLClient, phase: str = "up") -> str:
    email = f"outage-{uuid.uuid4().hex[:10]}@example.test"
    variables = {"input": {"email": email, "password": PASSWORD, "name": "Outage Tester"}}
    body = timed(f"register ({phase})", lambda: api.data(REGISTER, variables))
    assert body["register"]["accessToken"]
    return email


def login(api: GraphQLClient, email: str, phase: str = "up") -> None:
    variables = {"input": {"email": email, "password": PASSWORD}}
    assert timed(f"login ({phase})", lambda: api.data(LOGIN, variables))["login"]["accessToken"]


def email_jobs(addresses: set[str]) -> list[Job]:
    with session_scope() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "email.send")).all()
        return [job for job in jobs if job.payload.get("to") in addresses]


def burst(api: GraphQLClient, phase: str, users: int = 8) -> set[str]:
    """Sign-ups then sign-ins, four at a time, as a busy API sees them."""
    with ThreadPoolExecutor(4) as pool:
        emails = set(pool.map(lambda _: register(api, phase), range(users)))
        list(pool.map(lambda email: login(api, email, phase), emails))
    return emails


def report() -> None:
    print(
        "\n"
        + "; ".join(
            f"{k}: median {statistics.median(v) * 1000:.0f} ms, max {max(v) * 1000:.0f} ms"
            for k, v in took.items()
        )
    )


def test_requests_succeed_while_the_broker_is_down_and_the_relay_sends_later(api, node):
    burst(api, "up")
    assert api.http.get("/healthz").json()["broker"] == "ok"

    node.stop()
    try:
        during = burst(api, "broker down")
        health = timed("healthz (broker down)", lambda: api.http.get("/healthz"))
        report()
        assert health.status_code == 503
        assert health.json()["broker"].startswith("error: ConnectionRefusedError"), health.json()
        waiting = email_jobs(during)
        assert len(waiting) == len(during)
        assert all(j.status == JobStatus.QUEUED and j.published_at is None for j in waiting)
    finally:
        node.start()

    assert api.http.get("/healthz").json()["broker"] == "ok"
    settings = get_settings().model_copy(update={"broker_url": node.url})

    def relayed() -> bool:
        # The API that enqueued them owns their publishing for LMS_RELAY_AFTER_SECONDS; the
        # relay takes over once that claim has lapsed, as `lms beat` would.
        relay_unpublished(settings, older_than=0)
        return all(job.published_at is not None for job in email_jobs(during))

    wait_until(relayed, 60, "the relay publishes the jobs committed during the outage", 0.5)
    with publisher(settings).connection_for_write() as connection:
        depth = connection.default_channel.queue_declare("email", passive=True).message_count
    assert depth >= len(during)
