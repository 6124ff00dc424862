"""Database connections terminated every 0.3 s for about 9 s during a burst: nothing stuck,
nothing lost."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from lms.db import session_scope
from lms.jobs.models import JobStatus
from lms.jobs.service import enqueue
from tests.conftest import PG_ADMIN_URL, TEST_DB
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
from tests.support import start_beat, start_worker

JOBS = 100
TERMINATIONS = 30


class Terminator(threading.Thread):
    """Every 0.3 s, terminate every other backend connected to the test database: the
    workers', the scheduler's and this process's own pooled connections."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.rounds = 0
        self.killed = 0
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            while self.rounds < TERMINATIONS:
                self.killed += admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (TEST_DB,),
                ).fetchone()[0]
                self.rounds += 1
                self.done.wait(0.3)
        self.done.set()


def enqueue_surely(retries: list[int]) -> str:
    """Enqueue one job as a client would: a commit that failed is tried again."""
    while True:
        try:
            with session_scope() as session:
                return str(enqueue(session, "system.noop", {"steps": 2}).id)
        except DBAPIError:
            retries[0] += 1


@pytest.mark.parametrize(
    "db_retries",
    [
        pytest.param("6", id="writes-retried"),
        # Every write that meets a dropped connection gives up at once: only the lease
        # and the reaper stand between a lost final write and a job RUNNING forever.
        pytest.param("1", id="writes-not-retried"),
    ],
)
def test_connections_terminated_during_a_burst_leave_no_job_running_forever(db_retries):
    env = {**SHORT_LEASES, "LMS_JOB_DB_RETRIES": db_retries}
    worker = start_worker("default", env=env, concurrency=2)
    beat = start_beat(env)
    terminator = Terminator()
    try:
        retries = [0]
        terminator.start()
        # The burst lasts as long as the blip: jobs are enqueued, started and finished
        # while connections keep dropping.
        job_ids = [enqueue_surely(retries) for _ in range(JOBS)]
        while not terminator.done.is_set():
            job_ids.append(enqueue_surely(retries))
        blip_over = time.monotonic()
        # Every job ends; the ones whose worker lost its write are recovered by the reaper.
        wait_until(lambda: unfinished(job_ids) == 0, 90, "every job finished after the blip")
        settled = time.monotonic() - blip_over
    finally:
        terminator.done.wait(60)
        worker.stop()
        beat.stop()
    outcome = statuses(job_ids)
    succeeded = event_counts(job_ids, JobStatus.SUCCEEDED)
    assert outcome == {JobStatus.SUCCEEDED: len(job_ids)}
    assert all(count <= 1 for count in succeeded.values())
    record(
        f"database_blip (worker write tries: {db_retries})",
        jobs=len(job_ids),
        termination_rounds=terminator.rounds,
        connections_terminated=terminator.killed,
        enqueue_retries=retries[0],
        succeeded=outcome.get(JobStatus.SUCCEEDED, 0),
        running_forever=unfinished(job_ids),
        attempts_histogram=attempts_histogram(job_ids),
        requeued_by_reaper=events_mentioning(job_ids, "lease of attempt"),
        dropped_duplicate_deliveries=worker.output.count("holds a live lease; dropped"),
        seconds_to_settle_after_blip=round(settled, 1),
    )
