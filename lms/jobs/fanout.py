"""Batched enqueue for fan-out: thousands of jobs in a few statements and one publish burst.

    ids = enqueue_many(session, "notifications.push", [{"user_id": ...}, ...])

The job rows and their QUEUED events are inserted with one multi-row INSERT each (per
`ROWS_PER_STATEMENT`) in the caller's transaction. After commit the jobs go out on one
connection and one channel in confirm mode: every message is published first, then the
broker's acks are collected (one round trip for the burst instead of one per message).
Jobs the broker did not confirm stay unpublished for the outbox relay. QUEUED events of
a batch are stored, not sent on the bus: a fan-out of 10,000 would flood live subscribers
with rows the database already has; RUNNING and later events go out as usual.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.jobs import confirms, publishing, stamps
from lms.jobs.confirms import TaskMessage
from lms.jobs.models import Job, JobEvent, JobStatus, QueueState
from lms.jobs.queues import queue_for
from lms.jobs.records import queued_row
from lms.jobs.service import Outgoing, after_commit, draining_refusal, publish_jobs
from lms.models import utcnow

log = logging.getLogger(__name__)
# PostgreSQL takes at most 65,535 parameters per statement; a job row has about 15.
ROWS_PER_STATEMENT = 2000

_JOBS, _EVENTS = Job.__table__, JobEvent.__table__


def enqueue_many(
    session: Session,
    kind: str,
    payloads: Sequence[dict[str, Any]],
    *,
    subjects: Sequence[tuple[str, str] | None] | None = None,
    requested_by_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    max_attempts: int | None = None,
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    """Record one `kind` job per payload in `session`'s transaction; published after commit."""
    settings = settings or get_settings()
    queue = queue_for(kind)
    if subjects is not None and len(subjects) != len(payloads):
        raise ValueError("subjects must pair with payloads one to one")
    if not payloads:
        return []
    session.flush()  # a parent job added to the session must exist before its children
    if session.execute(select(QueueState.draining).where(QueueState.queue == queue)).scalar():
        raise draining_refusal(queue)
    now = utcnow()
    max_attempts = max_attempts or settings.job_max_attempts
    jobs = [
        queued_row(kind, queue, payload, subject, requested_by_id, parent_id, max_attempts, now)
        for payload, subject in zip(payloads, subjects or [None] * len(payloads))
    ]
    ids = [job["id"] for job in jobs]
    events = [
        {"job_id": job_id, "status": JobStatus.QUEUED, "message": "queued", "created_at": now}
        for job_id in ids
    ]
    connection = session.connection()
    for table, rows in ((_JOBS, jobs), (_EVENTS, events)):
        # An executemany with RETURNING is sent as multi-row INSERTs ("insertmanyvalues"),
        # `ROWS_PER_STATEMENT` rows each; cheaper to build than one huge .values() statement.
        connection.execute(
            insert(table).returning(table.c.id),
            rows,
            execution_options={"insertmanyvalues_page_size": ROWS_PER_STATEMENT},
        )
    outgoing = [Outgoing(job_id, kind, queue, settings) for job_id in ids]
    after_commit(session, lambda: publish_burst(outgoing, settings))
    return ids


def publish_burst(outgoing: list[Outgoing], settings: Settings | None = None) -> int:
    """Publish every job on one channel in confirm mode, then stamp the confirmed ones.
    Anything unconfirmed (broker away, nack, timeout) is left to the relay."""
    settings = settings or get_settings()
    if publishing.broker_down(settings.broker_url):  # a publish just failed: relay sends
        return 0
    if settings.broker_is_filesystem:  # no confirms to batch there
        return publish_jobs(outgoing, settings)
    messages = [
        TaskMessage(item.kind, item.queue, item.job_id, str(uuid.uuid4())) for item in outgoing
    ]
    acked, error = confirms.publish_once(settings, messages)
    if isinstance(error, OSError):  # refused, reset, timed out
        log.warning("publish burst interrupted (%s); the relay sends the rest", error)
        publishing.mark_down(settings.broker_url)
    elif error is not None:  # a protocol error: what was confirmed stands
        log.warning("publish burst failed (%s); the relay sends the rest", error)
    confirmed = [(message.job_id, message.task_id) for message, ok in zip(messages, acked) if ok]
    stamps.write(confirmed, settings)
    return len(confirmed)
