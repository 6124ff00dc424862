"""Bounded history: events of finished jobs older than the retention window are rolled up
into hourly counts (queue, kind, status) and deleted, so `job_events` does not grow forever
while the totals stay exportable. Job rows themselves are kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.admin.models import JobEventRollup
from lms.jobs.models import TERMINAL, Job, JobEvent
from lms.models import utcnow

BATCH = 5000


def roll_up_old_events(session: Session, retention_days: int) -> int:
    """Roll up and delete one batch of old events; the number deleted."""
    cutoff = utcnow() - timedelta(days=retention_days)
    rows = session.execute(
        select(JobEvent.id, JobEvent.created_at, JobEvent.status, Job.queue, Job.kind)
        .join(Job, Job.id == JobEvent.job_id)
        .where(JobEvent.created_at < cutoff, Job.status.in_(TERMINAL))
        .order_by(JobEvent.id)
        .limit(BATCH)
    ).all()
    if not rows:
        return 0
    counts: dict[tuple, int] = {}
    for row in rows:
        hour = row.created_at.replace(minute=0, second=0, microsecond=0)
        key = (hour, row.queue, row.kind, row.status.value)
        counts[key] = counts.get(key, 0) + 1
    for (hour, queue, kind, status), count in counts.items():
        rollup = session.scalars(
            select(JobEventRollup).where(
                JobEventRollup.hour == hour,
                JobEventRollup.queue == queue,
                JobEventRollup.kind == kind,
                JobEventRollup.status == status,
            )
        ).one_or_none()
        if rollup is None:
            session.add(
                JobEventRollup(hour=hour, queue=queue, kind=kind, status=status, count=count)
            )
        else:
            rollup.count += count
    session.execute(delete(JobEvent).where(JobEvent.id.in_([row.id for row in rows])))
    return len(rows)
