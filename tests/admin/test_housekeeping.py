"""Monitoring housekeeping runs in `lms beat` itself: with every user queue paused, the
operator page still gets `queueStatsUpdated` frames, and a backlog on `default` still
raises a BACKLOG alert."""

from __future__ import annotations

import asyncio

import pytest
from gql import gql

from lms.db import session_scope
from lms.jobs.queues import QUEUES
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.admin.helpers import CLEAR_ALERTS, MANAGE, reset_queue_states, stats_of, ws_session
from tests.support import create_user, start_beat, start_worker

BACKLOG = 12
ALERTS = "{ jobDashboard { alerts { rule queueName } } }"


@pytest.fixture(scope="module")
def admin(api):
    reset_queue_states()
    user, token = create_user(Role.ADMIN)
    api.data(CLEAR_ALERTS, {"q": None}, token)
    yield user, token
    for queue in QUEUES:
        api.data(MANAGE, {"q": queue, "a": "CLEAR"}, token)
    api.data(CLEAR_ALERTS, {"q": None}, token)
    reset_queue_states()


@pytest.fixture(scope="module")
def worker():
    process = start_worker(",".join(QUEUES))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def beat():
    process = start_beat(
        {
            "LMS_ADMIN_STATS_INTERVAL_SECONDS": "1",
            "LMS_ADMIN_ALERT_INTERVAL_SECONDS": "1",
            "LMS_ADMIN_BACKLOG_WARNING": str(BACKLOG - 2),
        }
    )
    yield process
    process.stop()


async def test_paused_queues_do_not_silence_stats_or_alerts(api, admin, worker, beat):
    _, token = admin
    for queue in QUEUES:
        api.data(MANAGE, {"q": queue, "a": "PAUSE", "r": "housekeeping test"}, token)
    with session_scope() as session:
        for _ in range(BACKLOG):
            enqueue(session, "system.noop")
    stats = gql("subscription { queueStatsUpdated { at queues { queueName depth paused } } }")
    async with ws_session(api, token) as session:
        frames = session.subscribe(stats)
        first_frame = (await asyncio.wait_for(frames.__anext__(), 30))["queueStatsUpdated"]
        # Frames keep coming from beat while nothing consumes; each one is a moment to look
        # at the stored alerts, until the backlog on `default` has raised its alert.
        async with asyncio.timeout(90):
            async for frame in frames:
                snapshot = frame["queueStatsUpdated"]
                raised = await asyncio.to_thread(api.data, ALERTS, None, token)
                if ("BACKLOG", "default") in {
                    (a["rule"], a["queueName"]) for a in raised["jobDashboard"]["alerts"]
                }:
                    break
        await frames.aclose()
    assert snapshot["at"] != first_frame["at"]
    assert stats_of(snapshot, "default")["depth"] >= BACKLOG
    assert all(q["paused"] for q in snapshot["queues"] if q["queueName"] in QUEUES)
