"""Notification jobs: fan-out, batched email and push sending, the release sweep, expiry."""

from __future__ import annotations

import uuid

from lms.db import session_scope
from lms.notifications.service import create_batch, delete_expired
from lms.notifications.service.delivery import (
    release_due,
    send_emails,
    send_pushes,
    settle_abandoned,
)
from lms.notifications.service.producer import EMAIL_JOB, FANOUT_JOB, PUSH_JOB, Spec
from lms.notifications.settings import notifications_settings
from tasks.app import app
from tasks.base import JobContext, job_task


@job_task(FANOUT_JOB)
def fan_out(job: JobContext) -> dict:
    """Insert the notifications in batches (one statement per batch), each batch's commit
    publishing its sending jobs. A re-run skips recipients already notified (the key)."""
    spec = Spec(**job.payload["spec"])
    user_ids = [uuid.UUID(u) for u in job.payload["user_ids"]]
    size = notifications_settings().fanout_batch
    created = 0
    for start in range(0, len(user_ids), size):
        job.progress.check()
        with session_scope(job.settings) as session:
            created += create_batch(session, user_ids[start : start + size], spec)
        job.progress(min(1.0, (start + size) / len(user_ids)), f"{created} notified")
    return {"recipients": len(user_ids), "created": created}


@job_task(EMAIL_JOB)
def send_notification_emails(job: JobContext) -> dict:
    return send_emails(job.job_id, job.settings)


@job_task(PUSH_JOB)
def send_notification_pushes(job: JobContext) -> dict:
    return send_pushes(job.job_id, job.settings)


@app.task(name="notifications.release", ignore_result=True)
def release() -> int:
    """Deliveries whose quiet hours or digest window ended, and those whose sending job
    ended without them (scheduled by beat)."""
    with session_scope() as session:
        settle_abandoned(session)
        return release_due(session)


@app.task(name="notifications.expire", ignore_result=True)
def expire() -> int:
    """Delete expired notifications (daily, by beat)."""
    with session_scope() as session:
        return delete_expired(session)
