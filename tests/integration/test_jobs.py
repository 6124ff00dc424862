"""The job machinery on PostgreSQL + RabbitMQ with real worker processes."""

from __future__ import annotations

import email
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from kombu import Connection
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from lms.config import get_settings
from lms.db import session_scope, sync_sessionmaker
from lms.errors import Conflict
from lms.jobs import publishing, stamps
from lms.admin.queues import cancel_waiting
from lms.jobs.models import Job, JobEvent, JobStatus
from lms.jobs.service import cancel_job, enqueue, relay_unpublished, retry_job
from lms.jobs.settings import job_settings
from lms.mail.jobs import request_email
from lms.models import utcnow
from tests.conftest import PG_ADMIN_URL
from tests.faults.support import wait_until
from tests.support import JobWatcher, start_beat, start_worker


def queue_depth(name: str) -> int:
    with Connection(get_settings().broker_url) as connection:
        return connection.default_channel.queue_declare(name, passive=True).message_count


def stored_statuses(job_id) -> list[str]:
    with session_scope() as session:
        rows = session.scalars(
            select(JobEvent.status).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        )
        return [status.value for status in rows]


def load(job_id) -> Job:
    with session_scope() as session:
        return session.get(Job, job_id)


@pytest.fixture
def worker():
    process = start_worker()
    yield process
    process.stop()


def test_rolled_back_transaction_starts_no_work():
    before = queue_depth("default")
    job_id = None
    with pytest.raises(RuntimeError), session_scope() as session:
        job_id = enqueue(session, "system.noop").id
        raise RuntimeError("the change that needed the job failed")
    assert load(job_id) is None
    assert queue_depth("default") == before


def test_enqueue_on_a_connection_the_database_dropped_fails_cleanly_then_works_again():
    """The producer's INSERT runs on the driver's cursor: a dropped connection must still
    surface as SQLAlchemy's error (what callers and retries match), leave nothing behind,
    and take the dead connection out of the pool."""
    before = queue_depth("default")
    session = sync_sessionmaker()()
    try:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(
                lambda: (
                    not admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                ),
                10,
                "the backend gone",
            )
        with pytest.raises(DBAPIError) as raised:
            enqueue(session, "system.noop")
    finally:
        session.close()
    assert raised.value.connection_invalidated
    with session_scope() as session:
        job = enqueue(session, "system.noop")
        assert session.get(Job, job.id) is job  # the session's own object for the row
    assert load(job.id).status == JobStatus.QUEUED
    wait_until(lambda: queue_depth("default") == before + 1, 10, "only the second job's message")


def test_committed_job_is_published_once_with_its_stamp():
    relay_unpublished(older_than=0)  # what earlier tests left unpublished is sent now
    before = queue_depth("default")
    with session_scope() as session:
        job_id = enqueue(session, "system.noop").id
    # Sent by the publishing threads and stamped by the writer thread, off the producer's path.
    wait_until(lambda: queue_depth("default") == before + 1, 10, "the job's message")
    job = wait_until(lambda: (row := load(job_id)).published_at and row, 10, "publish stamp")
    assert job.celery_task_id
    # nothing is left for the relay: it publishes only what was never published
    assert relay_unpublished(older_than=0) == 0


def test_jobs_of_concurrent_commits_are_each_published_once_with_their_queued_event():
    relay_unpublished(older_than=0)  # what earlier tests left unpublished is sent now
    before = queue_depth("default")
    job_ids: list = []

    def enqueue_some(count: int) -> None:
        for _ in range(count):  # one transaction each, as requests enqueue work
            with session_scope() as session:
                job_ids.append(enqueue(session, "system.noop").id)

    with JobWatcher() as watcher:
        threads = [threading.Thread(target=enqueue_some, args=(50,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert publishing.flush(60)  # the batches that carried them have ended
        for job_id in job_ids:
            assert watcher.wait(job_id, statuses=["QUEUED"])["status"] == "QUEUED"
    wait_until(lambda: queue_depth("default") == before + 200, 10, "200 messages")
    wait_until(lambda: all(load(job_id).published_at for job_id in job_ids), 10, "publish stamps")
    assert relay_unpublished(older_than=0) == 0  # none left for the relay, none sent twice
    assert queue_depth("default") == before + 200


def test_a_job_that_started_before_its_publish_stamp_is_left_unstamped(worker):
    relay_unpublished(older_than=0)  # what earlier tests left unpublished is sent now
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop").id
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    stamps.flush()  # the stamp waiting out its delay is written now, and changes nothing
    job = load(job_id)
    assert job.published_at is None  # no second rewrite of a finished row
    assert job.celery_task_id  # its start recorded the task id
    assert relay_unpublished(older_than=0) == 0  # the relay leaves it alone


def test_a_purge_cancels_the_jobs_waiting_then_and_spares_those_committed_after_it():
    with session_scope() as session:
        purged_at = utcnow()
        waiting = enqueue(session, "system.noop")
        waiting.created_at = purged_at - timedelta(seconds=1)  # committed before the purge
    with session_scope() as session:
        later = enqueue(session, "system.noop").id  # its publish stamp is still to come
    with session_scope() as session:
        cancel_waiting(session, "default", purged_at)
    assert load(waiting.id).status == JobStatus.CANCELLED
    assert load(later).status == JobStatus.QUEUED


def test_email_job_round_trip_through_a_worker(worker):
    with JobWatcher() as watcher:
        with session_scope() as session:
            job = request_email(
                session, template="test", to="ada@example.test", context={"name": "Ada"}
            )
        finished = watcher.wait(job.id)
    assert finished["status"] == "SUCCEEDED"
    assert watcher.statuses(job.id) == ["QUEUED", "RUNNING", "SUCCEEDED"]
    assert stored_statuses(job.id) == ["QUEUED", "RUNNING", "SUCCEEDED"]
    done = load(job.id)
    assert done.attempts == 1 and done.finished_at >= done.started_at >= done.created_at
    written = Path(done.result["delivery"])
    message = email.message_from_bytes(written.read_bytes())
    assert message["To"] == "ada@example.test"
    assert message["Message-ID"] == f"<{job.id}@lyceum.local>"


def test_lost_publish_is_recovered_by_the_relay(worker):
    # The broker is unreachable at commit time: the commit stands, the publish is lost.
    dead_broker = get_settings().model_copy(
        update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}
    )
    relay_unpublished(older_than=0)  # what earlier tests left unpublished is sent now
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop", settings=dead_broker).id
        assert publishing.flush()  # the after-commit publish failed and released its claim
        assert load(job_id).published_at is None
        assert relay_unpublished(older_than=0) == 1
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    assert load(job_id).published_at is not None


def test_worker_killed_mid_task_leaves_the_job_to_be_run_again(tmp_path):
    release = tmp_path / "release"
    short_lease = {"LMS_JOB_LEASE_SECONDS": "2", "LMS_JOB_REAPER_INTERVAL_SECONDS": "0.5"}
    first = start_worker(env=short_lease)
    beat = start_beat(short_lease)
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop", {"block_until": str(release)}).id
        try:
            watcher.wait(job_id, {"RUNNING"})
        finally:
            first.kill()
        release.touch()
        second = start_worker(env=short_lease)
        try:
            # The redelivered message finds attempt 1's lease alive and is dropped; once
            # the lease expires the reaper queues the job again: attempt 2 finishes it.
            assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        finally:
            second.stop()
            beat.stop()
    job = load(job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    statuses = stored_statuses(job_id)  # QUEUED again in between, unless the redelivery
    assert statuses[:2] == ["QUEUED", "RUNNING"]  # came after the lease expired
    assert statuses.count("RUNNING") == 2 and statuses.count("SUCCEEDED") == 1
    assert statuses[-2:] == ["RUNNING", "SUCCEEDED"]


def test_cancelling_a_running_job_stops_it(worker, tmp_path):
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop", {"block_until": str(tmp_path / "never")}).id
        watcher.wait(job_id, {"RUNNING"})
        with session_scope() as session:
            cancel_job(session, job_id)
        assert watcher.wait(job_id)["status"] == "CANCELLED"
    assert load(job_id).status == JobStatus.CANCELLED


def test_cancelled_waiting_job_never_runs(tmp_path):
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop").id
        with session_scope() as session:
            cancel_job(session, job_id)
        worker = start_worker()
        try:
            # a later job on the same queue proves the worker has passed the cancelled one
            with session_scope() as session:
                later = enqueue(session, "system.noop").id
            watcher.wait(later)
        finally:
            worker.stop()
    assert load(job_id).status == JobStatus.CANCELLED
    assert load(job_id).attempts == 0
    with session_scope() as session, pytest.raises(Conflict) as refused:
        cancel_job(session, job_id)
    assert refused.value.code == "JOB_ALREADY_FINISHED"


def test_progress_is_recorded_and_retry_runs_the_same_job_again(worker):
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop", {"steps": 3}).id
        watcher.wait(job_id)
        progress = [e["progress"] for e in watcher.events[str(job_id)] if e["status"] == "RUNNING"]
        assert progress == sorted(progress) and progress[-1] == 1.0
        with session_scope() as session, pytest.raises(Conflict):
            retry_job(session, job_id)  # a succeeded job is not retryable

        with session_scope() as session:
            failing = request_email(session, template="no_such_template", to="bo@example.test").id
        failed = watcher.wait(failing)
        assert failed["status"] == "FAILED" and failed["errorCode"] == "UNKNOWN_TEMPLATE"
        assert load(failing).attempts == 1  # permanent errors are not retried

        # Forget attempt 1's events before the retry commits: attempt 2 may fail at once.
        watcher.events[str(failing)].clear()
        with session_scope() as session:
            retry_job(session, failing)
        assert watcher.wait(failing)["status"] == "FAILED"
    job = load(failing)
    assert job.attempts == 2
    with session_scope() as session:
        assert session.scalar(select(Job).where(Job.id == failing)).id == failing


def test_job_whose_start_was_lost_is_sent_again_by_the_relay(worker, monkeypatch):
    # Starts commit without waiting for the WAL flush: a PostgreSQL crash right after one
    # leaves the job as it was, QUEUED and stamped as published, its message consumed and
    # acknowledged. Made here without a crash: the stamp of a message that never existed.
    dead_broker = get_settings().model_copy(
        update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}
    )
    relay_unpublished(older_than=0)  # what earlier tests left unpublished is sent now
    with JobWatcher() as watcher:
        with session_scope() as session:
            job_id = enqueue(session, "system.noop", settings=dead_broker).id
        assert publishing.flush()
        with session_scope() as session:
            session.get(Job, job_id).published_at = utcnow() - timedelta(minutes=5)
        assert relay_unpublished(older_than=0) == 0  # published recently enough: left alone
        monkeypatch.setenv("LMS_JOB_REPUBLISH_AFTER_SECONDS", "60")
        job_settings.cache_clear()
        try:  # (other tests' jobs left waiting on queues no worker here consumes count too)
            assert relay_unpublished(older_than=0) >= 1
        finally:
            monkeypatch.undo()
            job_settings.cache_clear()
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    assert load(job_id).attempts == 1
