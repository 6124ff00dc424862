"""Requesting, publishing, relaying, cancelling and retrying jobs.

A job row is inserted in the caller's transaction and published only after that
transaction commits (a transactional outbox): rolled-back changes start no work, and a
commit whose publish was lost is picked up by `relay_unpublished`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.db import autocommit_engine, session_scope
from lms.admin.models import QueueState
from lms.errors import Conflict, NotFound
from lms.events.bus import publish_event
from lms.jobs import publishing
from lms.jobs.broker import publisher
from lms.jobs.models import TERMINAL, Job, JobEvent, JobStatus
from lms.jobs.queues import queue_for
from lms.models import new_id, utcnow

log = logging.getLogger(__name__)
_PENDING = "lms.jobs.pending"
_AFTER_COMMIT = "lms.jobs.after_commit"
_DRAINING = "lms.jobs.draining"
JOB_TOPIC = "job"


@dataclass(frozen=True)
class Outgoing:
    job_id: uuid.UUID
    kind: str
    queue: str
    settings: Settings | None = None


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    subject: tuple[str, str] | None = None,
    requested_by_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    max_attempts: int | None = None,
    settings: Settings | None = None,
) -> Job:
    """Record a job in `session`'s transaction; it is published after that commit."""
    settings = settings or get_settings()
    queue = queue_for(kind)
    if _draining(session, queue):
        raise Conflict(
            f"the {queue} queue is draining and accepts no new jobs; try again later",
            code="QUEUE_DRAINING",
            queue=queue,
        )
    job = Job(
        id=new_id(),
        kind=kind,
        queue=queue,
        status=JobStatus.QUEUED,
        payload=payload or {},
        subject_type=subject[0] if subject else None,
        subject_id=str(subject[1]) if subject else None,
        requested_by_id=requested_by_id,
        parent_id=parent_id,
        max_attempts=max_attempts or settings.job_max_attempts,
        created_at=utcnow(),
    )
    session.add(job)
    record_event(session, job, message="queued", settings=settings)
    _publish_after_commit(session, Outgoing(job.id, kind, job.queue, settings))
    return job


def _draining(session: Session, queue: str) -> bool:
    """Whether an operator is draining `queue` (lms.admin.queues): one primary-key read per
    queue and transaction, so a fan-out of many jobs pays it once."""
    known = session.info.setdefault(_DRAINING, {})
    if queue not in known:
        with session.no_autoflush:  # the caller's pending rows are none of this read's business
            known[queue] = bool(
                session.execute(
                    select(QueueState.draining).where(QueueState.queue == queue)
                ).scalar()
            )
    return known[queue]


def _publish_after_commit(session: Session, outgoing: Outgoing) -> None:
    session.info.setdefault(_PENDING, []).append(outgoing)


def after_commit(session: Session, callback) -> None:
    """Run `callback()` once this session's transaction has committed (dropped on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _flush_outbox(session: Session) -> None:
    session.info.pop(_DRAINING, None)
    outgoing = session.info.pop(_PENDING, [])
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    if not outgoing and not callbacks:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        _deliver(outgoing, callbacks)
    else:
        # In the API, broker round trips must not stall the event loop nor borrow its
        # default executor (argon2, the health probe): publishing has threads of its own.
        # A process dying before they run loses nothing: the relay publishes what was
        # committed but never published.
        publishing.submit(_deliver, outgoing, callbacks)


def _deliver(outgoing: list[Outgoing], callbacks: list) -> None:
    # Events first, so a subscriber sees QUEUED before a fast worker's RUNNING.
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit stands; the relay/bus recover
            log.exception("after-commit callback failed")
    if not outgoing:
        return
    settings = outgoing[0].settings or get_settings()
    if publishing.broker_down(settings.broker_url):  # the relay sends them later
        return
    if publish_jobs(outgoing, settings) < len(outgoing):
        publishing.mark_down(settings.broker_url)
    else:
        publishing.mark_up(settings.broker_url)


@event.listens_for(Session, "after_soft_rollback")
def _drop_outbox(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # only the outermost rollback drops work
        session.info.pop(_PENDING, None)
        session.info.pop(_AFTER_COMMIT, None)
        session.info.pop(_DRAINING, None)


def publish_jobs(outgoing: list[Outgoing], settings: Settings | None = None) -> int:
    """Send each job to its queue, then stamp `published_at`. Failures are left to the relay."""
    settings = settings or get_settings()
    app = publisher(settings)
    published: list[tuple[uuid.UUID, str]] = []
    for item in outgoing:
        task_id = str(uuid.uuid4())
        try:
            app.send_task(
                item.kind,
                args=[str(item.job_id)],
                task_id=task_id,
                queue=item.queue,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception:  # noqa: BLE001 - committed work is never lost: the relay republishes
            log.warning(
                "publish of job %s failed; the relay will retry", item.job_id, exc_info=True
            )
            continue
        published.append((item.job_id, task_id))
    if published:
        _stamp_published(published, settings)
    return len(published)


_JOBS = Job.__table__
# One statement for any number of jobs (an executemany): Core, because this runs after
# every commit that enqueued work and the ORM's bulk-update bookkeeping costs more than
# the round trip itself.
_STAMP = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(published_at=bindparam("published_at"), celery_task_id=bindparam("task_id"))
)


def _stamp_published(published: list[tuple[uuid.UUID, str]], settings: Settings) -> None:
    """Record `published_at` and the Celery task id of jobs that reached the broker."""
    now = utcnow()
    rows = [
        {"job_id": job_id, "published_at": now, "task_id": task_id} for job_id, task_id in published
    ]
    # Each stamp stands alone (a lost one means a republish by the relay, and tasks are
    # idempotent), so on PostgreSQL they autocommit: no BEGIN and COMMIT round trips.
    with autocommit_engine(settings).begin() as connection:
        connection.execute(_STAMP, rows)


def relay_unpublished(settings: Settings | None = None, *, older_than: float | None = None) -> int:
    """Publish jobs that were committed but never published (a crash between the two)."""
    settings = settings or get_settings()
    wait = settings.relay_after_seconds if older_than is None else older_than
    cutoff = utcnow() - timedelta(seconds=wait)
    with session_scope(settings) as session:
        query = (
            select(Job.id, Job.kind, Job.queue)
            .where(
                Job.published_at.is_(None), Job.status == JobStatus.QUEUED, Job.created_at <= cutoff
            )
            .order_by(Job.created_at)
            .limit(500)
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
    return publish_jobs([Outgoing(row.id, row.kind, row.queue, settings) for row in rows], settings)


def job_event_data(job: Job, event: JobEvent) -> dict[str, Any]:
    """The bus/subscription shape of one job event."""
    return {
        "id": event.id,
        "jobId": str(job.id),
        "kind": job.kind,
        "queueName": job.queue,
        "status": event.status.value,
        "attempt": event.attempt,
        "progress": event.progress,
        "message": event.message,
        "errorCode": event.error_code,
        "worker": event.worker,
        "subjectType": job.subject_type,
        "subjectId": job.subject_id,
        "requestedById": str(job.requested_by_id) if job.requested_by_id else None,
        "at": _iso(event.created_at),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def record_event(
    session: Session,
    job: Job,
    *,
    message: str | None = None,
    error_code: str | None = None,
    settings: Settings | None = None,
) -> JobEvent:
    """Store the job's current state as an event and publish it on the bus after commit."""
    job_event = JobEvent(
        job_id=job.id,
        status=job.status,
        attempt=job.attempts,
        progress=job.progress,
        message=message,
        error_code=error_code,
        worker=job.worker,
        created_at=utcnow(),
    )
    session.add(job_event)
    # Built after commit so the event carries its database id; sessions keep objects
    # loaded after commit (expire_on_commit=False), so this reads no SQL.
    after_commit(
        session, lambda: publish_event(JOB_TOPIC, job_event_data(job, job_event), settings)
    )
    return job_event


def get_job(session: Session, job_id: uuid.UUID | str) -> Job:
    job = session.get(Job, _as_uuid(job_id))
    if job is None:
        raise NotFound("job not found", code="JOB_NOT_FOUND")
    return job


def cancel_job(
    session: Session, job_id: uuid.UUID | str, *, settings: Settings | None = None
) -> Job:
    """Cancel waiting work at once; ask running work to stop (it checks between steps)."""
    job = get_job(session, job_id)
    if job.status in TERMINAL:
        raise Conflict(f"job already {job.status.value.lower()}", code="JOB_ALREADY_FINISHED")
    if job.status == JobStatus.RUNNING:
        job.cancel_requested = True
        record_event(session, job, message="cancel requested", settings=settings)
    else:
        job.status = JobStatus.CANCELLED
        job.finished_at = utcnow()
        record_event(session, job, message="cancelled", settings=settings)
    task_id = job.celery_task_id
    if task_id:
        after_commit(session, lambda: publisher(settings).control.revoke(task_id))
    return job


def retry_job(
    session: Session, job_id: uuid.UUID | str, *, settings: Settings | None = None
) -> Job:
    """Run a failed or cancelled job again as the same job, with one more attempt allowed."""
    job = get_job(session, job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            f"only failed or cancelled jobs can be retried (this one is {job.status.value})",
            code="JOB_NOT_RETRYABLE",
        )
    job.status = JobStatus.QUEUED
    job.max_attempts = max(job.max_attempts, job.attempts + 1)
    job.progress = 0.0
    job.progress_message = None
    job.error_code = job.error_message = job.error_traceback = None
    job.cancel_requested = False
    job.published_at = job.started_at = job.finished_at = None
    record_event(session, job, message="retry requested", settings=settings)
    _publish_after_commit(session, Outgoing(job.id, job.kind, job.queue, settings))
    return job


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("job not found", code="JOB_NOT_FOUND") from None
