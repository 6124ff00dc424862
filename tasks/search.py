"""Search jobs: index one course, sweep pending courses, recount words, roll up trending.

All are idempotent: a document is rebuilt from the course as it is now, and the rollups
recompute their tables from scratch.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.models import utcnow
from lms.search import indexing
from lms.search.service import roll_up_trending
from tasks.app import app
from tasks.base import JobContext, job_task

SWEEP_AFTER_SECONDS = 30  # pending longer than this: its job was lost or held back


@job_task(indexing.INDEX_JOB)
def index_course(job: JobContext) -> dict:
    try:
        course_id = uuid.UUID(str(job.payload["course_id"]))
    except (KeyError, ValueError):
        raise PermanentJobError("the job names no valid course", code="INVALID_PAYLOAD") from None
    with session_scope(job.settings) as session:
        return {"outcome": indexing.index_course(session, course_id)}


@job_task("search.rebuild")
def rebuild(job: JobContext) -> dict:
    """Every published course indexed again, stale documents dropped, words recounted."""
    with session_scope(job.settings) as session:
        courses = indexing.rebuild(session)
    indexing.vacuum(job.settings)
    return {"courses": courses}


@app.task(name="search.index_pending")
def index_pending() -> int:
    """Scheduled: index courses whose job never ran (a draining queue, a lost message)."""
    with session_scope() as session:
        course_ids = indexing.pending_course_ids(
            session, utcnow() - timedelta(seconds=SWEEP_AFTER_SECONDS)
        )
    for course_id in course_ids:
        with session_scope() as session:
            indexing.index_course(session, course_id)
    return len(course_ids)


@app.task(name="search.refresh_terms")
def refresh_terms() -> int:
    with session_scope() as session:
        return indexing.refresh_terms(session)


@app.task(name="search.refresh_counters")
def refresh_counters() -> int:
    with session_scope() as session:
        return indexing.refresh_counters(session)


@app.task(name="search.roll_up_trending")
def roll_up() -> int:
    with session_scope() as session:
        return roll_up_trending(session)
