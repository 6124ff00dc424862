"""Handling jobs for stored deliveries, recorded in batches off the request path.

The webhook endpoint only stores a delivery (QUEUED, no job yet) and answers. This relay
claims every such delivery with `FOR UPDATE SKIP LOCKED`, records one `payments.handle_event`
job per delivery with the batched `enqueue_many` (a few multi-row INSERTs, one publish burst
after commit) and links each delivery to its job, all in one transaction. Relays may run at
once (the API's after each delivery, `lms beat`'s on its interval, reconciliation's): a
claimed delivery is skipped by the others, and one already linked is never claimed again.
So a delivery stored by a process that died before its relay ran is queued by the next one.
A row locked by a duplicate's counter (`webhooks.Intake.statement`) is skipped too; that
duplicate's request wakes the relay again once it has committed.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import session_scope
from lms.jobs.fanout import enqueue_many
from lms.payments.events import HANDLE_JOB
from lms.payments.models import DeliveryOutcome, WebhookDelivery

BATCH = 500
_DELIVERIES = WebhookDelivery.__table__
_LINK = (
    _DELIVERIES.update()
    .where(_DELIVERIES.c.id == bindparam("delivery"))
    .values(job_id=bindparam("job"))
)


def queue_stored(session: Session, *, limit: int = BATCH, settings: Settings | None = None) -> int:
    """Record the handling jobs of up to `limit` stored deliveries that have none, oldest
    first, in `session`'s transaction; how many."""
    waiting = (
        select(_DELIVERIES.c.id, _DELIVERIES.c.event_id)
        .where(
            _DELIVERIES.c.outcome == DeliveryOutcome.QUEUED,
            _DELIVERIES.c.job_id.is_(None),
            _DELIVERIES.c.valid.is_(True),
        )
        .order_by(_DELIVERIES.c.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # plain FOR UPDATE is not rendered on SQLite
    )
    rows = session.execute(waiting).all()
    if not rows:
        return 0
    job_ids = enqueue_many(
        session,
        HANDLE_JOB,
        [{"delivery_id": str(row.id)} for row in rows],
        subjects=[("stripe_event", row.event_id) for row in rows],
        settings=settings,
    )
    session.execute(
        _LINK, [{"delivery": row.id, "job": job} for row, job in zip(rows, job_ids, strict=True)]
    )
    return len(rows)


def relay_stored(settings: Settings | None = None, *, batch: int = BATCH) -> int:
    """Queue every stored delivery still without a job (and not claimed by another relay),
    a batch per transaction, each published after its commit; how many."""
    total = 0
    while True:
        with session_scope(settings) as session:
            queued = queue_stored(session, limit=batch, settings=settings)
        total += queued
        if queued < batch:
            return total
