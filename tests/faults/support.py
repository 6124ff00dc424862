"""What the fault tests share: short leases, waiting on database state, figures."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import TypeVar
from pathlib import Path

from sqlalchemy import func, select

from lms.db import session_scope
from lms.jobs.models import TERMINAL, Job, JobEvent, JobStatus

T = TypeVar("T")

# Leases expire within seconds and the scheduler's reaper looks twice a second, so a lost
# worker or a lost final write is recovered while the test waits.
SHORT_LEASES = {
    "LMS_JOB_LEASE_SECONDS": "3",
    "LMS_JOB_REAPER_INTERVAL_SECONDS": "0.5",
    "LMS_JOB_RELAY_INTERVAL_SECONDS": "1",
}
FIGURES = Path(
    os.environ.get("LMS_FAULT_FIGURES", Path(os.environ["LMS_VAR_DIR"]) / "faults.jsonl")
)


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Re-check database state until it holds (the state is what the test observes);
    answers the check's first truthy result."""
    tick = threading.Event()
    for _ in range(int(timeout / every) + 1):
        if found := check():
            return found
        tick.wait(every)
    raise AssertionError(f"{what}: not reached within {timeout:g} s")


def unfinished(job_ids) -> int:
    with session_scope() as session:
        return session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.id.in_(list(job_ids)), Job.status.not_in(tuple(TERMINAL)))
        )


def statuses(job_ids) -> dict[JobStatus, int]:
    with session_scope() as session:
        rows = session.execute(
            select(Job.status, func.count()).where(Job.id.in_(list(job_ids))).group_by(Job.status)
        ).all()
    return {status: count for status, count in rows}


def event_counts(job_ids, status: JobStatus) -> dict[str, int]:
    """How many events of `status` each job recorded."""
    with session_scope() as session:
        rows = session.execute(
            select(JobEvent.job_id, func.count())
            .where(JobEvent.job_id.in_(list(job_ids)), JobEvent.status == status)
            .group_by(JobEvent.job_id)
        ).all()
    return {str(job_id): count for job_id, count in rows}


def attempts_histogram(job_ids) -> dict[int, int]:
    with session_scope() as session:
        rows = session.execute(
            select(Job.attempts, func.count())
            .where(Job.id.in_(list(job_ids)))
            .group_by(Job.attempts)
        ).all()
    return dict(sorted(rows))


def events_mentioning(job_ids, text: str) -> int:
    with session_scope() as session:
        return session.scalar(
            select(func.count())
            .select_from(JobEvent)
            .where(JobEvent.job_id.in_(list(job_ids)), JobEvent.message.contains(text))
        )


def record(test: str, **figures) -> None:
    """Keep a test's figures (for docs/reliability.md) and show them with `-s`."""
    line = json.dumps({"test": test, **figures}, default=str)
    print(f"\nfault figures: {line}")
    with FIGURES.open("a") as out:
        out.write(line + "\n")
