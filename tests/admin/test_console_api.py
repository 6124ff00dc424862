"""The console's API: read-only operators, the jobs table's filters and search, charts from
the durable history, children of a pipeline, and control actions in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.admin.helpers import CLEAR_ALERTS, MANAGE, RETRY, reset_queue_states
from tests.support import JobWatcher, create_user, start_worker

JOBS = """query($f: JobFilter, $o: Int, $n: Int) { jobs(filter: $f, offset: $o, limit: $n) {
  total items { id kind status errorCode errorTraceback parentId children { id } } } }"""
HISTORY = """query($q: String) { jobHistory(queueName: $q, hours: 1, bucketMinutes: 5) {
  at succeeded failed failureRate p50DurationSeconds p95DurationSeconds } }"""
AUDIT = "{ adminAuditLog(limit: 20) { action actorEmail subjectType subjectId details } }"


@pytest.fixture(scope="module")
def people(api):
    reset_queue_states()
    admin, admin_token = create_user(Role.ADMIN)
    operator, operator_token = create_user(Role.OPERATOR)
    api.data(CLEAR_ALERTS, {"q": None}, admin_token)
    yield {"admin": (admin, admin_token), "operator": (operator, operator_token)}
    reset_queue_states()


@pytest.fixture(scope="module")
def finished(people):
    """Three good jobs and two broken ones (a payload the task cannot read), all finished;
    `since` bounds the table to them (other tests of the run leave jobs of their own)."""
    since = datetime.now(UTC).isoformat()
    worker = start_worker("default")
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                parent = enqueue(session, "system.noop")
                good = [str(parent.id)]
                for _ in range(2):
                    child = enqueue(session, "system.noop")
                    child.parent_id = parent.id
                    good.append(str(child.id))
                broken = [str(enqueue(session, "system.noop", {"steps": "x"}).id) for _ in range(2)]
            for job_id in good + broken:
                watcher.wait(job_id)
    finally:
        worker.stop()
    return {"good": good, "broken": broken, "since": since}


def test_a_read_only_operator_sees_everything_and_changes_nothing(api, people, finished):
    _, token = people["operator"]
    dashboard = api.data(
        "{ jobDashboard { queues { queueName } recentFailures { id } } }", None, token
    )
    assert {j["id"] for j in dashboard["jobDashboard"]["recentFailures"]} >= set(finished["broken"])
    failed = finished["broken"][0]
    assert api.error_codes(RETRY, {"id": failed}, token) == ["OPERATOR_READ_ONLY"]
    for action in ("PAUSE", "RESUME", "CLEAR", "DRAIN"):
        assert api.error_codes(MANAGE, {"q": "default", "a": action}, token) == [
            "OPERATOR_READ_ONLY"
        ]
    assert api.error_codes(CLEAR_ALERTS, {"q": None}, token) == ["OPERATOR_READ_ONLY"]
    # Nothing happened: the job is still failed, and tracebacks stay for admins.
    page = api.data(JOBS, {"f": {"search": failed}}, token)["jobs"]
    assert [(j["status"], j["errorTraceback"]) for j in page["items"]] == [("FAILED", None)]
    _, admin_token = people["admin"]
    page = api.data(JOBS, {"f": {"search": failed}}, admin_token)["jobs"]
    assert "ValueError" in page["items"][0]["errorTraceback"]


def test_the_jobs_table_filters_and_searches(api, people, finished):
    _, token = people["operator"]
    failed = api.data(
        JOBS,
        {
            "f": {
                "queueName": "default",
                "status": "FAILED",
                "errorCode": "INTERNAL_ERROR",
                "createdAfter": finished["since"],
            }
        },
        token,
    )["jobs"]
    assert failed["total"] == 2
    assert {j["id"] for j in failed["items"]} == set(finished["broken"])
    parent = finished["good"][0]
    found = api.data(JOBS, {"f": {"search": parent}}, token)["jobs"]["items"]
    by_id = {j["id"]: j for j in found}
    assert set(by_id) == set(finished["good"])  # the job and its children
    assert {c["id"] for c in by_id[parent]["children"]} == set(finished["good"][1:])
    assert by_id[finished["good"][1]]["parentId"] == parent
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.data(JOBS, {"f": {"createdAfter": later}}, token)["jobs"]["total"] == 0
    page = api.data(JOBS, {"f": {"kind": "system.noop"}, "n": 2, "o": 1}, token)["jobs"]
    assert len(page["items"]) == 2 and page["total"] >= 5


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        (
            {
                "f": {
                    "createdAfter": "2026-01-02T00:00:00Z",
                    "createdBefore": "2026-01-01T00:00:00Z",
                }
            },
            "INVALID_DATE_RANGE",
        ),
        ({"f": {"queueName": "nope"}}, "UNKNOWN_QUEUE"),
        ({"n": 0}, "BAD_USER_INPUT"),
    ],
)
def test_bad_filters_are_refused_with_a_code(api, people, variables, code):
    _, token = people["operator"]
    assert api.error_codes(JOBS, variables, token) == [code]


def test_bad_control_input_is_refused_with_a_code(api, people):
    _, token = people["admin"]
    assert api.error_codes(MANAGE, {"q": "nope", "a": "DRAIN"}, token) == ["UNKNOWN_QUEUE"]
    # Clearing twice is harmless: the second clear finds nothing to purge or cancel.
    for _ in range(2):
        cleared = api.data(MANAGE, {"q": "analytics", "a": "CLEAR"}, token)["manageQueue"]
    assert (cleared["purgedMessages"], cleared["cancelledJobs"]) == (0, 0)
    codes = api.error_codes(
        'query { jobDetails(queueName: "default", jobId: "not-a-uuid") { id } }', None, token
    )
    assert codes == ["JOB_NOT_FOUND"]


def test_charts_come_from_the_durable_history(api, people, finished):
    _, token = people["operator"]
    points = api.data(HISTORY, {"q": "default"}, token)["jobHistory"]
    assert len(points) >= 12
    assert sum(p["failed"] for p in points) >= 2 and sum(p["succeeded"] for p in points) >= 3
    busy = [p for p in points if p["succeeded"]]
    assert all(p["p50DurationSeconds"] <= p["p95DurationSeconds"] for p in busy)


def test_control_actions_are_in_the_audit_log(api, people, finished):
    admin, token = people["admin"]
    failed = finished["broken"][1]
    retried = api.data(RETRY, {"id": failed}, token)["retryJobs"]
    assert retried["retriedCount"] == 1
    api.data(MANAGE, {"q": "analytics", "a": "PAUSE", "r": "audit test"}, token)
    api.data(MANAGE, {"q": "analytics", "a": "RESUME", "r": "audit test"}, token)
    _, operator_token = people["operator"]
    entries = api.data(AUDIT, None, operator_token)["adminAuditLog"]
    seen = [(e["action"], e["actorEmail"], e["subjectId"]) for e in entries[:3]]
    assert seen == [
        ("admin.queue.resume", admin.email, "analytics"),
        ("admin.queue.pause", admin.email, "analytics"),
        ("admin.jobs.retry", admin.email, failed),
    ]
