"""Shared bits of the admin tests: queries, a gql websocket client, database peeks."""

from __future__ import annotations

import asyncio
import contextlib

from gql import Client
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import delete, select

from lms.audit.models import AuditEntry
from lms.db import session_scope
from lms.jobs.models import QueueState
from lms.jobs.service import enqueue

DASHBOARD = """{ jobDashboard { health workersAnswering inspectionError
  queues { queueName p50DurationSeconds p95DurationSeconds
    windows { windowSeconds succeeded failed throughputPerMinute failureRate }
    stats { depth consumers waiting running retrying succeeded failed cancelled paused draining
      oldestWaitingSeconds }
    health { status reasons { code severity message } } }
  workers { hostname state queues active reserved poolSize processed registered lastSeenAt }
  alerts { id queueName rule target severity message }
  recentFailures { id kind queueName errorCode } } }"""
STATS = (
    "{ realtimeQueueStats { at queues { queueName depth consumers waiting running paused draining"
    " } } }"
)
HEALTH = (
    "query($q: String) { queueHealth(queueName: $q) { "
    "queueName status reasons { code severity message } } }"
)
MANAGE = """mutation($q: String!, $a: QueueAction!, $r: String) {
  manageQueue(input: {queueName: $q, action: $a, reason: $r}) {
    queueName action paused draining affectedWorkers purgedMessages cancelledJobs message } }"""
CLEAR_ALERTS = (
    "mutation($q: String) { clearQueueAlerts(queueName: $q) { "
    "clearedCount alerts { rule queueName clearedAt } } }"
)
DETAILS = """query($q: String!, $id: String!) { jobDetails(queueName: $q, jobId: $id) {
  id status attempts errorCode result events { status attempt message errorCode }
  downloads { format name path url expiresAt } } }"""
RETRY = (
    "mutation($id: ID) { retryJobs(input: {jobId: $id}) { "
    "retriedCount jobs { id status attempts } } }"
)
HISTORY = (
    "query($q: String, $n: Int) { jobEventHistory(queueName: $q, limit: $n) { "
    "jobId status queueName at } }"
)
EXPORT = (
    "mutation($s: DateTime!, $e: DateTime!) { "
    "exportMonitoringData(startDate: $s, endDate: $e) { id kind status } }"
)


def transport(api, token: str | None) -> WebsocketsTransport:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(
        url=api.ws_url, init_payload=payload, subprotocols=["graphql-transport-ws"]
    )


@contextlib.asynccontextmanager
async def ws_session(api, token: str | None):
    async with Client(transport=transport(api, token)) as session:
        yield session


def stats_of(snapshot: dict, queue: str) -> dict:
    return next(q for q in snapshot["queues"] if q["queueName"] == queue)


def enqueue_job(kind: str, payload: dict | None = None) -> str:
    with session_scope() as session:
        return str(enqueue(session, kind, payload).id)


def audit_actions(actor_id) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor_id == actor_id)
                .order_by(AuditEntry.created_at)
            )
        )


def reset_queue_states() -> None:
    """Queue controls are durable: leave none behind for the next test module."""
    with session_scope() as session:
        session.execute(delete(QueueState))


async def first(stream, timeout: float = 30):
    async with asyncio.timeout(timeout):
        return await stream.__anext__()


def wait_for_event(watcher, job_id: str, predicate, timeout: float = 60) -> dict:
    """Block until the watcher has seen a job event matching `predicate` (bus events, no sleeps)."""
    key = str(job_id)

    def found():
        return next((e for e in watcher.events[key] if predicate(e)), None)

    with watcher._changed:
        watcher._changed.wait_for(lambda: found() is not None, timeout)
    event = found()
    assert event is not None, f"no matching event for job {key}; saw {watcher.statuses(key)}"
    return event
