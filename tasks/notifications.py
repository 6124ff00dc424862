"""Notification jobs: fan-out, batched email and push sending, the release sweep, expiry."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor

from lms.db import session_scope
from lms.notifications.service import create_batch, delete_expired, fanout_batches
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
    """Insert the notifications in batches (one transaction each, `fanout_connections` at
    once on PostgreSQL), each batch's commit publishing its sending jobs. A re-run skips
    recipients already notified (the key), so a batch that failed beside one that committed
    is safe."""
    spec = Spec(**job.payload["spec"])
    user_ids = [uuid.UUID(u) for u in job.payload["user_ids"]]
    config = notifications_settings()
    # SQLite takes one writer at a time: two transactions there would only wait on each other.
    at_once = 1 if job.settings.embedded else config.fanout_connections
    batches = fanout_batches(user_ids, config.fanout_batch, at_once)

    def store(batch: list[uuid.UUID]) -> int:
        with session_scope(job.settings) as session:
            return create_batch(session, batch, spec)

    created = stored = 0
    with ThreadPoolExecutor(at_once, thread_name_prefix="fanout") as pool:
        for start in range(0, len(batches), at_once):
            wave = batches[start : start + at_once]
            job.progress.check()
            # Each batch in a copy of this context: its spans stay in the job's trace.
            created += sum(
                pool.map(lambda batch: contextvars.copy_context().run(store, batch), wave)
            )
            stored += sum(len(batch) for batch in wave)
            job.progress(stored / len(user_ids), f"{created} notified")
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
