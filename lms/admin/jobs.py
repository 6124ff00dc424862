"""Operators' view of jobs: details with events, and retries. Who may look and who may act."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import audit
from lms.admin.access import require_control, require_operator
from lms.admin.errors import AdminCode
from lms.errors import NotFound, ValidationFailed
from lms.jobs.models import Job, JobEvent, JobStatus
from lms.jobs.queues import QUEUES
from lms.jobs.service import get_job, retry_job
from lms.security import Viewer

MAX_BULK_RETRY = 1000


def may_see_traceback(viewer: Viewer) -> bool:
    """Tracebacks name internals: admins only."""
    return viewer.is_admin


def may_download_export(viewer: Viewer, requested_by_id) -> bool:
    """An export's files are for admins and whoever asked for it."""
    return viewer.is_admin or (viewer.user_id is not None and viewer.user_id == requested_by_id)


def job_details(
    session: Session, viewer: Viewer, *, queue_name: str, job_id: str
) -> tuple[Job, list[JobEvent]]:
    require_operator(viewer)
    job = get_job(session, job_id)
    if job.queue != queue_name:
        raise NotFound(f"no job {job_id} on queue {queue_name!r}", code="JOB_NOT_FOUND")
    events = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)
    ).all()
    return job, list(events)


def retry_jobs(
    session: Session,
    viewer: Viewer,
    *,
    job_id: str | None = None,
    queue_name: str | None = None,
    since: datetime | None = None,
) -> list[Job]:
    """Retry one job, or every failed job of a queue; each as the same job, never a copy."""
    actor = require_control(viewer)
    if (job_id is None) == (queue_name is None):
        raise ValidationFailed("give exactly one of jobId or queueName", code="BAD_USER_INPUT")
    if job_id is not None:
        retried = [retry_job(session, job_id)]
    else:
        if queue_name not in QUEUES:
            raise ValidationFailed(f"unknown queue {queue_name!r}", code=AdminCode.UNKNOWN_QUEUE)
        query = select(Job.id).where(Job.queue == queue_name, Job.status == JobStatus.FAILED)
        if since is not None:
            query = query.where(Job.finished_at >= since)
        ids = session.scalars(query.order_by(Job.finished_at).limit(MAX_BULK_RETRY)).all()
        retried = [retry_job(session, failed) for failed in ids]
    audit.record(
        session,
        actor_id=actor,
        action="admin.jobs.retry",
        subject=("job", job_id) if job_id is not None else ("queue", queue_name),
        details={
            "retried": [str(job.id) for job in retried],
            "since": since.isoformat() if since else None,
        },
    )
    return retried
