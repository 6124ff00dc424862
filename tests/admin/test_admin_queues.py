"""The admin module against a real API process and a real worker on RabbitMQ: dashboard,
health, queue controls, retries, alerts, exports, metrics and the audit trail."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from gql import gql
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import func, select

from lms.admin import alerts
from lms.admin.settings import AdminSettings
from lms.db import session_scope
from lms.errors import Conflict
from lms.jobs import publishing
from lms.jobs.models import Job
from lms.jobs.service import enqueue
from lms.storage import signing
from lms.users.models import Role
from tests.admin.helpers import (
    CLEAR_ALERTS,
    DASHBOARD,
    DETAILS,
    EXPORT,
    HEALTH,
    HISTORY,
    MANAGE,
    RETRY,
    STATS,
    audit_actions,
    enqueue_job,
    first,
    reset_queue_states,
    stats_of,
    wait_for_event,
    ws_session,
)
from tests.support import JobWatcher, create_user, start_worker


@pytest.fixture(scope="module")
def worker():
    reset_queue_states()
    process = start_worker("default")
    yield process
    process.stop()
    reset_queue_states()


@pytest.fixture(scope="module")
def admin():
    return create_user(Role.ADMIN)


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


def our_worker(dashboard: dict) -> dict:
    online = [w for w in dashboard["workers"] if w["state"] == "ONLINE"]
    assert len(online) == 1, dashboard["workers"]
    return online[0]


def test_dashboard_counts_match_the_jobs_the_broker_and_the_worker(api, worker, admin, watcher):
    _, token = admin
    ok = [enqueue_job("system.noop") for _ in range(3)]
    broken = enqueue_job("system.noop", {"steps": "not-a-number"})
    for job_id in [*ok, broken]:
        watcher.wait(job_id)

    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    assert board["workersAnswering"] is True and board["inspectionError"] is None
    me = our_worker(board)
    assert me["queues"] == ["default"] and me["poolSize"] == 1
    assert "system.noop" in me["registered"] and me["processed"] >= 4
    default = next(q for q in board["queues"] if q["queueName"] == "default")
    with session_scope() as session:
        counts = {
            status.value: n
            for status, n in session.execute(
                select(Job.status, func.count()).where(Job.queue == "default").group_by(Job.status)
            )
        }
    assert default["stats"]["succeeded"] == counts["SUCCEEDED"]
    assert default["stats"]["failed"] == counts["FAILED"]
    assert default["stats"]["consumers"] == 1  # the broker's own count
    hour = next(w for w in default["windows"] if w["windowSeconds"] == 3600)
    assert hour["succeeded"] >= 3 and hour["failed"] >= 1 and hour["throughputPerMinute"] > 0
    assert default["p50DurationSeconds"] is not None
    assert broken in [job["id"] for job in board["recentFailures"]]


def test_job_details_and_retry_keep_one_row_with_a_new_attempt(api, worker, admin, watcher):
    _, token = admin
    broken = enqueue_job("system.noop", {"steps": "not-a-number"})
    watcher.wait(broken)
    details = api.data(DETAILS, {"q": "default", "id": broken}, token)["jobDetails"]
    assert (details["status"], details["errorCode"], details["attempts"]) == (
        "FAILED",
        "INTERNAL_ERROR",
        1,
    )

    retried = api.data(RETRY, {"id": broken}, token)["retryJobs"]
    assert retried["retriedCount"] == 1 and retried["jobs"][0]["id"] == broken
    second = wait_for_event(
        watcher, broken, lambda e: e["status"] == "FAILED" and e["attempt"] == 2
    )
    assert second["errorCode"] == "INTERNAL_ERROR"
    details = api.data(DETAILS, {"q": "default", "id": broken}, token)["jobDetails"]
    assert details["attempts"] == 2 and details["status"] == "FAILED"
    assert [e["status"] for e in details["events"]] == [
        "QUEUED",
        "RUNNING",
        "FAILED",
        "QUEUED",
        "RUNNING",
        "FAILED",
    ]
    with session_scope() as session:  # the same row, never a copy
        assert (
            session.scalar(select(func.count()).select_from(Job).where(Job.id == uuid.UUID(broken)))
            == 1
        )


def test_event_history_is_newest_first_and_bounded(api, worker, admin, watcher):
    _, token = admin
    job_id = enqueue_job("system.noop")
    watcher.wait(job_id)
    events = api.data(HISTORY, {"q": "default", "n": 3}, token)["jobEventHistory"]
    assert len(events) == 3 and all(e["queueName"] == "default" for e in events)
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert api.error_codes(HISTORY, {"q": "default", "n": 0}, token) == ["BAD_USER_INPUT"]
    assert api.error_codes(HISTORY, {"q": "nope"}, token) == ["UNKNOWN_QUEUE"]


def test_pause_stops_consumption_and_resume_restarts_it(api, worker, admin, watcher):
    _, token = admin
    paused = api.data(MANAGE, {"q": "default", "a": "PAUSE", "r": "maintenance"}, token)[
        "manageQueue"
    ]
    assert paused["paused"] is True and len(paused["affectedWorkers"]) == 1
    assert api.error_codes(MANAGE, {"q": "default", "a": "PAUSE"}, token) == [
        "QUEUE_ALREADY_PAUSED"
    ]
    # The broker itself says nobody consumes the queue, so a new job can only wait.
    assert stats_of(api.data(STATS, token=token)["realtimeQueueStats"], "default")["consumers"] == 0
    job_id = enqueue_job("system.noop")
    stats = stats_of(api.data(STATS, token=token)["realtimeQueueStats"], "default")
    assert stats["paused"] is True and stats["depth"] >= 1 and stats["waiting"] >= 1
    assert (
        api.data(DETAILS, {"q": "default", "id": job_id}, token)["jobDetails"]["status"] == "QUEUED"
    )
    health = api.data(HEALTH, {"q": "default"}, token)["queueHealth"][0]
    assert "PAUSED" in [r["code"] for r in health["reasons"]] and health["status"] == "WARNING"

    resumed = api.data(MANAGE, {"q": "default", "a": "RESUME"}, token)["manageQueue"]
    assert resumed["paused"] is False and resumed["affectedWorkers"] == paused["affectedWorkers"]
    assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    assert stats_of(api.data(STATS, token=token)["realtimeQueueStats"], "default")["consumers"] == 1
    assert api.error_codes(MANAGE, {"q": "default", "a": "RESUME"}, token) == ["QUEUE_NOT_PAUSED"]


def test_drain_refuses_new_jobs_with_a_code(api, worker, admin):
    _, token = admin
    drained = api.data(MANAGE, {"q": "default", "a": "DRAIN"}, token)["manageQueue"]
    assert drained["draining"] is True
    with pytest.raises(Conflict) as refused, session_scope() as session:
        enqueue(session, "system.noop")
    assert refused.value.code == "QUEUE_DRAINING"
    now = datetime.now(UTC)
    period = {"s": (now - timedelta(hours=1)).isoformat(), "e": now.isoformat()}
    assert api.error_codes(EXPORT, period, token) == [
        "QUEUE_DRAINING"
    ]  # the export job runs on default
    assert (
        api.data(MANAGE, {"q": "default", "a": "RESUME"}, token)["manageQueue"]["draining"] is False
    )
    enqueue_job("system.noop")  # accepted again


def test_queue_with_backlog_and_no_consumer_is_unhealthy_alerted_and_cleared(api, worker, admin):
    _, token = admin
    waiting = [enqueue_job("analytics.admin_test_backlog") for _ in range(2)]
    # The backlog is what the broker holds: both messages are there once published (the
    # publishing threads send them after each commit; on a busy machine, a moment later).
    publishing.flush(10)
    health = api.data(HEALTH, {"q": "analytics"}, token)["queueHealth"]
    assert health[0]["status"] == "ERROR"
    assert "NO_CONSUMER" in [r["code"] for r in health[0]["reasons"]]
    assert api.error_codes(HEALTH, {"q": "nope"}, token) == ["UNKNOWN_QUEUE"]

    raised = alerts.evaluate(tuning=AdminSettings(backlog_warning=2))
    rules = {a["rule"] for a in raised if a["queueName"] == "analytics"}
    assert {"BACKLOG", "NO_CONSUMER"} <= rules
    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    assert board["health"] == "ERROR"
    assert {"BACKLOG", "NO_CONSUMER"} <= {
        a["rule"] for a in board["alerts"] if a["queueName"] == "analytics"
    }
    # Evaluating again refreshes the open alerts instead of duplicating them.
    alerts.evaluate(tuning=AdminSettings(backlog_warning=2))
    again = api.data(DASHBOARD, token=token)["jobDashboard"]["alerts"]
    assert sorted(a["rule"] for a in again if a["queueName"] == "analytics") == [
        "BACKLOG",
        "NO_CONSUMER",
    ]

    cleared = api.data(CLEAR_ALERTS, {"q": "analytics"}, token)["clearQueueAlerts"]
    assert cleared["clearedCount"] == 2 and all(a["clearedAt"] for a in cleared["alerts"])
    remaining = api.data(DASHBOARD, token=token)["jobDashboard"]["alerts"]
    assert not [a for a in remaining if a["queueName"] == "analytics"]

    # CLEAR purges the waiting messages and keeps every row, marked CANCELLED.
    outcome = api.data(MANAGE, {"q": "analytics", "a": "CLEAR"}, token)["manageQueue"]
    assert outcome["purgedMessages"] >= 2 and outcome["cancelledJobs"] >= 2
    for job_id in waiting:
        details = api.data(DETAILS, {"q": "analytics", "id": job_id}, token)["jobDetails"]
        assert details["status"] == "CANCELLED" and details["errorCode"] == "QUEUE_CLEARED"
        assert details["events"][-1]["message"] == "cleared by an operator"
    assert stats_of(api.data(STATS, token=token)["realtimeQueueStats"], "analytics")["depth"] == 0


async def test_job_alerts_subscription_receives_a_new_alert(api, worker, admin):
    _, token = admin
    subscription = gql(
        "subscription { jobAlerts(severity: CRITICAL) { rule queueName severity message } }"
    )
    async with ws_session(api, token) as session:
        stream = session.subscribe(subscription)
        probe = asyncio.ensure_future(stream.__anext__())
        job_id = await asyncio.to_thread(enqueue_job, "analytics.admin_test_alert")
        # The server registers the subscription asynchronously: re-raise until one arrives.
        while not probe.done():
            await asyncio.to_thread(api.data, CLEAR_ALERTS, {"q": "analytics"}, token)
            await asyncio.to_thread(alerts.evaluate)
            await asyncio.wait({probe}, timeout=1)
        alert = probe.result()["jobAlerts"]
        await stream.aclose()  # unsubscribe now, not at the close timeout
    assert (alert["rule"], alert["queueName"], alert["severity"]) == (
        "NO_CONSUMER",
        "analytics",
        "CRITICAL",
    )
    api.data(MANAGE, {"q": "analytics", "a": "CLEAR"}, token)
    assert (
        api.data(DETAILS, {"q": "analytics", "id": job_id}, token)["jobDetails"]["status"]
        == "CANCELLED"
    )


async def test_queue_stats_subscription_starts_with_the_current_numbers(api, worker, admin):
    _, token = admin
    subscription = gql(
        "subscription { queueStatsUpdated { at queues { queueName consumers depth } } }"
    )
    async with ws_session(api, token) as session:
        stream = session.subscribe(subscription)
        snapshot = (await first(stream))["queueStatsUpdated"]
        await stream.aclose()
    assert stats_of(snapshot, "default")["consumers"] == 1
    assert {q["queueName"] for q in snapshot["queues"]} >= {"default", "media", "email"}


def test_export_produces_signed_csv_and_json_downloads(api, worker, admin, watcher):
    _, token = admin
    done = enqueue_job("system.noop")
    watcher.wait(done)
    now = datetime.now(UTC)
    period = {
        "s": (now - timedelta(hours=1)).isoformat(),
        "e": (now + timedelta(minutes=1)).isoformat(),
    }
    export = api.data(EXPORT, period, token)["exportMonitoringData"]
    assert export["kind"] == "admin.export_monitoring"
    assert watcher.wait(export["id"])["status"] == "SUCCEEDED"
    details = api.data(DETAILS, {"q": "default", "id": export["id"]}, token)["jobDetails"]
    links = {link["format"]: link for link in details["downloads"]}
    assert set(links) == {"CSV", "JSON"}

    assert links["CSV"]["url"].endswith(links["CSV"]["path"])  # local storage: the API
    response = api.http.get(links["CSV"]["path"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="jobs.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert done in {row["id"] for row in rows}
    document = json.loads(api.http.get(links["JSON"]["path"]).text)
    assert done in {job["id"] for job in document["jobs"]} and "default" in document["summary"]

    signature = links["CSV"]["path"].split("/")[4]
    tampered = links["CSV"]["path"].replace(signature, signature[:-4] + "0000")
    refused = api.http.get(tampered)
    assert (
        refused.status_code == 403
        and refused.json()["errors"][0]["extensions"]["code"] == "SIGNATURE_INVALID"
    )
    key = details["result"]["files"]["csv"]
    an_hour_ago = datetime.fromtimestamp(time.time() - 3600, UTC)
    expired = signing.api_path(key, an_hour_ago, name="jobs.csv", download=True)
    refused = api.http.get(expired)
    assert (
        refused.status_code == 403
        and refused.json()["errors"][0]["extensions"]["code"] == "LINK_EXPIRED"
    )
    unsigned = api.http.get(f"/storage/s/{int(time.time()) + 60}/0/{key}")
    assert unsigned.status_code == 403
    bad_range = {"s": period["e"], "e": period["s"]}
    assert api.error_codes(EXPORT, bad_range, token) == ["INVALID_DATE_RANGE"]


def test_metrics_show_queue_depth_consumers_and_workers(api, worker):
    metrics = api.http.get("/metrics").text
    assert 'lms_queue_depth{queue="default"}' in metrics
    assert 'lms_queue_consumers{queue="default"} 1.0' in metrics
    assert "lms_worker_up{worker=" in metrics
    assert 'lms_job_run_seconds_bucket{kind="system.noop",le="+Inf"}' in metrics


def test_operator_page_is_served(api):
    page = api.http.get("/admin/queues")
    assert page.status_code == 200 and "/admin/static/admin_console.js" in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    script = api.http.get("/admin/static/admin_console.js")
    assert script.status_code == 200 and "jobDashboard" in script.text
    assert api.http.get("/admin/static/secrets.py").status_code == 404


def test_every_admin_action_is_in_the_audit_log(admin):
    user, _ = admin
    actions = audit_actions(user.id)
    for expected in (
        "admin.jobs.retry",
        "admin.queue.pause",
        "admin.queue.resume",
        "admin.queue.drain",
        "admin.queue.clear",
        "admin.alerts.clear",
        "admin.monitoring.export",
    ):
        assert expected in actions, (expected, actions)


OPERATIONS = [
    (DASHBOARD, {}),
    (STATS, {}),
    (HEALTH, {"q": "default"}),
    (HISTORY, {"q": "default", "n": 5}),
    (DETAILS, {"q": "default", "id": "00000000-0000-0000-0000-000000000000"}),
    (RETRY, {"id": "00000000-0000-0000-0000-000000000000"}),
    (MANAGE, {"q": "default", "a": "PAUSE"}),
    (EXPORT, {"s": "2026-01-01T00:00:00Z", "e": "2026-01-02T00:00:00Z"}),
    (CLEAR_ALERTS, {"q": None}),
]


async def test_non_admins_are_refused_everywhere(api):
    _, student = create_user(Role.STUDENT)
    _, educator = create_user(Role.EDUCATOR)
    for query, variables in OPERATIONS:
        assert api.error_codes(query, variables, student) == ["FORBIDDEN"], query
        assert api.error_codes(query, variables, educator) == ["FORBIDDEN"], query
        assert api.error_codes(query, variables) == ["UNAUTHENTICATED"], query
    for text in ("subscription { queueStatsUpdated { at } }", "subscription { jobAlerts { id } }"):
        async with ws_session(api, student) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(gql(text)):
                    pass
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
