"""Deliveries that must not run a job twice or forever: a duplicate message, a poison
message, a worker SIGKILLed mid-job. Outcomes are counted from the database."""

from __future__ import annotations

from sqlalchemy import select

from lms.db import session_scope
from lms.jobs.alerts import RULE
from lms.jobs.broker import publisher
from lms.jobs.models import Job, JobStatus, QueueAlert
from lms.jobs.service import enqueue
from tests.faults.support import (
    SHORT_LEASES,
    attempts_histogram,
    event_counts,
    events_mentioning,
    record,
    statuses,
    unfinished,
    wait_until,
)
from tests.support import JobWatcher, start_beat, start_worker


def load(job_id) -> Job:
    with session_scope() as session:
        return session.get(Job, job_id)


def test_a_duplicate_message_for_a_running_job_runs_one_attempt(tmp_path):
    release = tmp_path / "release"
    worker = start_worker("default", concurrency=2)  # a free pool process takes the duplicate
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                job_id = enqueue(session, "system.noop", {"block_until": str(release)}).id
            watcher.wait(job_id, {"RUNNING"})
            publisher().send_task("system.noop", args=[str(job_id)], queue="default")
            worker.wait_for("holds a live lease; dropped")
            release.touch()
            assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    finally:
        worker.stop()
    job = load(job_id)
    assert job.attempts == 1
    assert events_mentioning([job_id], "attempt started") == 1
    record("duplicate_message", messages=2, attempts=job.attempts, status=job.status.value)


def test_a_poison_message_fails_as_worker_lost_at_the_limit():
    env = {**SHORT_LEASES, "LMS_JOB_EXTRA_TASK_MODULES": "tests.faults.poison_tasks"}
    worker = start_worker("default", env=env)
    beat = start_beat(env)
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                job_id = enqueue(session, "tests.poison", max_attempts=2).id
            failed = watcher.wait(job_id, timeout=90)
    finally:
        worker.stop()
        beat.stop()
    assert failed["status"] == "FAILED" and failed["errorCode"] == "WORKER_LOST"
    job = load(job_id)
    assert job.attempts == 2 and job.error_code == "WORKER_LOST"
    with session_scope() as session:
        alert = session.scalars(
            select(QueueAlert).where(QueueAlert.rule == RULE, QueueAlert.target == "tests.poison")
        ).one()
    assert str(job_id) in alert.message
    record(
        "poison_message",
        max_attempts=2,
        attempts=job.attempts,
        error_code=job.error_code,
        attempts_started=events_mentioning([job_id], "attempt started"),
        deliveries_dropped=worker.output.count("holds a live lease; dropped"),
        alert=alert.rule,
    )


def test_worker_killed_mid_job_finishes_every_job_once(tmp_path):
    release = tmp_path / "release"
    first = start_worker("default", env=SHORT_LEASES, concurrency=2)
    beat = start_beat(SHORT_LEASES)
    with JobWatcher() as watcher:
        with session_scope() as session:
            blocked = enqueue(session, "system.noop", {"block_until": str(release)}).id
            job_ids = [blocked] + [
                enqueue(session, "system.noop", {"steps": 3}).id for _ in range(60)
            ]
        try:
            watcher.wait(blocked, {"RUNNING"})
        finally:
            first.kill()  # the whole process group: main process and pool, no acks
        release.touch()
        second = start_worker("default", env=SHORT_LEASES, concurrency=2)
        try:
            # Counted from the database: the bus is fire-and-forget, and a worker killed
            # between a job's final commit and its event leaves the event unsent.
            wait_until(lambda: unfinished(job_ids) == 0, 90, "every job finished once")
        finally:
            second.stop()
            beat.stop()
    assert statuses(job_ids) == {JobStatus.SUCCEEDED: len(job_ids)}
    succeeded = event_counts(job_ids, JobStatus.SUCCEEDED)
    assert set(succeeded.values()) == {1}
    assert load(blocked).attempts == 2
    record(
        "worker_sigkill_mid_job",
        jobs=len(job_ids),
        succeeded_once=sum(1 for count in succeeded.values() if count == 1),
        attempts_histogram=attempts_histogram(job_ids),
        requeued_by_reaper=events_mentioning(job_ids, "lease of attempt"),
    )
