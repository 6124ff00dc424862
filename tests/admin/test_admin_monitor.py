"""The Celery events monitor (`lms monitor`) against a real worker on RabbitMQ: a revoked
task's job is settled as CANCELLED, a SIGKILLed worker is reported gone (with the job it was
running, as Celery reported it), the rows stay authoritative, and SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import uuid

import pytest
from sqlalchemy import select

from lms.admin.monitor import MonitorOptions, MonitorState
from lms.db import session_scope
from lms.jobs.broker import publisher
from lms.jobs.models import Job
from lms.jobs.service import cancel_job
from lms.users.models import Role
from tests.admin.helpers import (
    CLEAR_ALERTS,
    DASHBOARD,
    DETAILS,
    MANAGE,
    enqueue_job,
    reset_queue_states,
    wait_for_event,
)
from tests.faults.support import wait_until
from tests.support import LMS, JobWatcher, Process, create_user, start_worker

WORKERS = (
    "{ jobDashboard { workers { hostname state lastSeenAt activeJobs { jobId } } "
    "alerts { rule target message } } }"
)


def start_monitor() -> Process:
    monitor = Process([*LMS, "monitor", "--grace", "1"])
    monitor.wait_for("lms: monitor listening")
    return monitor


@pytest.fixture(scope="module")
def admin(api):
    reset_queue_states()
    user, token = create_user(Role.ADMIN)
    api.data(CLEAR_ALERTS, {"q": None}, token)  # forget workers of earlier modules
    yield user, token
    api.data(CLEAR_ALERTS, {"q": None}, token)
    reset_queue_states()


@pytest.fixture(scope="module")
def monitor():
    process = start_monitor()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def worker(monitor):
    process = start_worker("default")
    yield process
    process.stop()


def task_id_of(job_id: str) -> str:
    with session_scope() as session:
        return session.scalar(select(Job.celery_task_id).where(Job.id == uuid.UUID(job_id)))


def test_a_revoked_task_is_reconciled_with_its_job(api, admin, monitor, worker):
    _, token = admin
    # The job waits in the broker while an operator revokes its task with Celery's tools.
    api.data(MANAGE, {"q": "default", "a": "PAUSE", "r": "monitor test"}, token)
    with JobWatcher() as watcher:
        job_id = enqueue_job("system.noop")
        # The task id is stamped once the message is out (the publisher's writer thread).
        task_id = wait_until(lambda: task_id_of(job_id), 30, "the job's task id is stamped")
        assert publisher().control.revoke(task_id, reply=True, timeout=10, limit=1)
        api.data(MANAGE, {"q": "default", "a": "RESUME", "r": "monitor test"}, token)
        # The worker drops the revoked message; only the monitor can tell the job row.
        assert watcher.wait(job_id)["status"] == "CANCELLED"

    job = api.data(DETAILS, {"q": "default", "id": job_id}, token)["jobDetails"]
    assert job["status"] == "CANCELLED" and job["attempts"] == 0
    last = job["events"][-1]
    assert last["errorCode"] == "TASK_REVOKED"
    assert last["message"].startswith(f"monitor: Celery revoked task {task_id}")


def test_a_killed_worker_is_reported_gone_with_the_job_it_was_running(
    api, admin, monitor, worker, tmp_path
):
    _, token = admin
    with JobWatcher() as watcher:
        job_id = enqueue_job("system.noop", {"block_until": str(tmp_path / "never")})
        watcher.wait(job_id, ("RUNNING",))
        # The operator sees it running on the worker (so Celery has announced it started).
        board = api.data(WORKERS, token=token)["jobDashboard"]
        while not any(job_id in [j["jobId"] for j in w["activeJobs"]] for w in board["workers"]):
            board = api.data(WORKERS, token=token)["jobDashboard"]
        (hostname,) = [w["hostname"] for w in board["workers"] if w["state"] == "ONLINE"]

        worker.kill()  # SIGKILL: no worker-offline event, no ack; only the heartbeats stop
        event = wait_for_event(watcher, job_id, lambda e: e["errorCode"] == "WORKER_LOST")

    task_id = task_id_of(job_id)
    assert event["message"].startswith(f"monitor: worker {hostname} stopped sending heartbeats")
    assert (
        f"Celery reported task {task_id} received" in event["message"]
        and " started " in event["message"]
    )
    # The monitor never writes the outcome: the row still says RUNNING until a worker redoes it.
    assert event["status"] == "RUNNING"
    assert (
        api.data(DETAILS, {"q": "default", "id": job_id}, token)["jobDetails"]["status"]
        == "RUNNING"
    )

    # No scheduled alert evaluation runs here: the alert is the monitor's.
    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    (alert,) = [
        a for a in board["alerts"] if a["rule"] == "WORKER_GONE" and a["target"] == hostname
    ]
    assert alert["severity"] == "CRITICAL" and "stopped sending heartbeats" in alert["message"]
    assert "1 running job(s) will be redelivered" in alert["message"]
    (gone,) = [w for w in board["workers"] if w["hostname"] == hostname]
    assert gone["state"] == "GONE" and gone["lastSeenAt"] is not None

    # The unacked message goes back to the queue: let the next module's worker drop it.
    with session_scope() as session:
        cancel_job(session, job_id)
    (tmp_path / "never").touch()


def test_sigterm_stops_the_monitor_cleanly():
    process = start_monitor()
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=15) == 0
    process.wait_for("monitor: stopped")


def test_memory_stays_bounded_whatever_the_task_count():
    state = MonitorState(MonitorOptions(max_tasks=100))
    for index in range(1000):
        task_id = str(uuid.uuid4())
        state.on_event(
            {
                "type": "task-received",
                "uuid": task_id,
                "hostname": "w@h",
                "args": f"['{uuid.uuid4()}']",
            }
        )
        state.on_event({"type": "task-started", "uuid": task_id, "hostname": "w@h"})
        if index % 2:
            state.on_event({"type": "task-succeeded", "uuid": task_id, "hostname": "w@h"})
    assert len(state.tasks) <= 100 and len(state.checks) <= 100
    assert state.counts["task-received"] == 1000 and state.counts["forgotten"] > 0
