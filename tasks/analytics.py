"""Analytics jobs: the scheduled rollup (resumes from its watermark), report and export
jobs. All idempotent: rollups list the events they folded in (or recompute the keys they
touch, on SQLite), files have fixed keys."""

from __future__ import annotations

import uuid

from lms.analytics import partitions, rollups
from lms.analytics.service import reports
from lms.db import session_scope
from tasks.app import app
from tasks.base import JobContext, job_task


@app.task(name="analytics.roll_up")
def roll_up(full: bool = False) -> dict:
    """Scheduled: fold the events stored since the watermark into the daily rollups."""
    with session_scope() as session:
        partitions.ensure_months(session)
    with session_scope() as session:
        return rollups.roll_up(session, full=full)


@job_task(reports.COURSE_REPORT)
def course_report(job: JobContext) -> dict:
    with session_scope(job.settings) as session:
        return reports.write_course_report(
            session, job.job_id, job.payload, job.settings, progress=job.progress
        )


@job_task(reports.STUDENT_REPORT)
def student_report(job: JobContext) -> dict:
    with session_scope(job.settings) as session:
        return reports.write_student_report(
            session, job.job_id, job.payload, job.settings, progress=job.progress
        )


@job_task(reports.EXPORT_STATEMENTS)
def export_statements(job: JobContext) -> dict:
    with session_scope(job.settings) as session:
        return reports.write_statements(
            session, uuid.UUID(str(job.job_id)), job.payload, job.settings
        )
