"""Celery's own view of job tasks agrees with the job rows: a Celery events receiver (what
Flower and exporters use) beside a real worker counts the same successes and failures as
`jobDashboard`, a failure carries its error code and message, a retry is Celery's retry,
and a job cancelled while running ends its task as revoked."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Self

import pytest
from celery.events import EventReceiver

from lms.db import session_scope
from lms.jobs.broker import publisher
from lms.jobs.models import Job, JobStatus
from lms.jobs.service import cancel_job, enqueue
from lms.users.models import Role
from tests.admin.helpers import CLEAR_ALERTS, reset_queue_states
from tests.admin.test_admin_monitor import task_id_of
from tests.support import JobWatcher, create_user, start_worker

COUNTS = """{ jobDashboard { queues { queueName windows { windowSeconds succeeded failed } } } }"""


class CeleryEvents:
    """A Celery events receiver on its own thread, as Flower runs one."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = threading.Condition()
        self._connection = publisher().connection_for_read()
        self._receiver = EventReceiver(self._connection, handlers={"*": self._on}, app=publisher())

    def _on(self, event: dict) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of_type(self, kind: str, task_ids: set[str] | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e["type"] == kind and (task_ids is None or e.get("uuid") in task_ids)
        ]

    def wait_for(self, predicate, timeout: float = 120) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), Counter(
                e["type"] for e in self.events
            )

    def __enter__(self) -> Self:
        threading.Thread(target=self._receiver.capture, daemon=True).start()
        # Bound once the worker's next heartbeat arrives: nothing after it is missed.
        self.wait_for(lambda: self.of_type("worker-heartbeat"), timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        self._receiver.should_stop = True
        self._connection.release()


@pytest.fixture(scope="module")
def admin(api):
    reset_queue_states()
    user, token = create_user(Role.ADMIN)
    api.data(CLEAR_ALERTS, {"q": None}, token)
    yield user, token
    reset_queue_states()


@pytest.fixture(scope="module")
def worker():
    process = start_worker(
        "default",
        {"LMS_JOB_EXTRA_TASK_MODULES": "tests.admin.console_tasks"},
        concurrency=2,
    )
    yield process
    process.stop()


def totals(api, token) -> tuple[int, int]:
    queue = next(
        q
        for q in api.data(COUNTS, None, token)["jobDashboard"]["queues"]
        if q["queueName"] == "default"
    )
    widest = max(queue["windows"], key=lambda w: w["windowSeconds"])
    return widest["succeeded"], widest["failed"]


def test_celery_events_count_what_the_dashboard_counts(api, admin, worker):
    _, token = admin
    before = totals(api, token)
    with CeleryEvents() as celery, JobWatcher() as watcher:
        with session_scope() as session:
            good = [str(enqueue(session, "system.noop").id) for _ in range(40)]
            # A payload the task cannot read: it fails with INTERNAL_ERROR, once.
            broken = [str(enqueue(session, "system.noop", {"steps": "x"}).id) for _ in range(8)]
        for job_id in good + broken:
            watcher.wait(job_id)
        task_ids = {task_id_of(job_id) for job_id in good + broken}
        celery.wait_for(
            lambda: (
                len(celery.of_type("task-succeeded", task_ids))
                + len(celery.of_type("task-failed", task_ids))
                == len(task_ids)
            )
        )
        succeeded, failed = totals(api, token)
        assert (succeeded - before[0], failed - before[1]) == (40, 8)
        assert len(celery.of_type("task-succeeded", task_ids)) == 40
        failures = celery.of_type("task-failed", task_ids)
        assert len(failures) == 8
        assert all(
            "INTERNAL_ERROR" in f["exception"] and "ValueError" in f["exception"] for f in failures
        )
        # Recorded failures are acked: no Celery retry, no redelivery.
        assert not celery.of_type("task-retried", task_ids)
        assert len(celery.of_type("task-received", task_ids)) == len(task_ids)


def test_a_job_cancelled_while_running_ends_its_task_revoked(api, admin, worker, tmp_path):
    with CeleryEvents() as celery, JobWatcher() as watcher:
        with session_scope() as session:
            job_id = str(
                enqueue(session, "system.noop", {"block_until": str(tmp_path / "never")}).id
            )
        watcher.wait(job_id, ("RUNNING",))
        with session_scope() as session:
            cancel_job(session, uuid.UUID(job_id))
        assert watcher.wait(job_id)["status"] == "CANCELLED"
        task_id = task_id_of(job_id)
        celery.wait_for(lambda: celery.of_type("task-revoked", {task_id}))
        ended = {e["type"] for e in celery.events if e.get("uuid") == task_id}
        assert not ended & {"task-succeeded", "task-failed"}


def test_a_cancelled_job_whose_revoke_was_missed_ends_its_task_revoked(api, admin, worker):
    with CeleryEvents() as celery:
        with session_scope() as session:
            job = enqueue(session, "system.noop", {"steps": 1})
            job_id = job.id
            session.flush()
            cancel_job(session, job_id)
        # A message no revoke ever named, as a worker that was down at cancel time sees it.
        task_id = publisher().send_task("system.noop", args=[str(job_id)], queue="default").id
        celery.wait_for(lambda: celery.of_type("task-revoked", {task_id}))
        ended = {e["type"] for e in celery.events if e.get("uuid") == task_id}
        assert not ended & {"task-succeeded", "task-failed"}
    with session_scope() as session:
        assert session.get(Job, job_id).status == JobStatus.CANCELLED


def test_a_retried_job_is_a_celery_retry_then_a_success(api, admin, worker):
    with CeleryEvents() as celery, JobWatcher() as watcher:
        with session_scope() as session:
            job_id = str(enqueue(session, "tests.flaky_once").id)
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        task_id = task_id_of(job_id)
        celery.wait_for(lambda: celery.of_type("task-succeeded", {task_id}))
        retried = celery.of_type("task-retried", {task_id})
        assert len(retried) == 1
        assert watcher.statuses(job_id).count("RETRYING") == 1
        assert "the remote end hung up" in retried[0]["exception"]
        assert not celery.of_type("task-failed", {task_id})
