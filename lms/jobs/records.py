"""Recording a lone job in one statement: the row, its QUEUED event and the draining check.

`enqueue` of a single job in a transaction is the producer's hot path: through the ORM it
costs a read (is the queue draining?) and two INSERTs. Here it is one statement on
PostgreSQL (`INSERT … SELECT … WHERE NOT EXISTS (draining)` feeding the event's INSERT);
a fan-out's further jobs go through the ORM, whose flush batches them.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from sqlalchemy import exists, insert, literal_column, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.expression import bindparam

from lms.jobs.models import Job, JobEvent, QueueState

_jobs = Job.__table__
_events = JobEvent.__table__
_states = QueueState.__table__


@functools.cache
def _statements(postgres: bool):
    queue = bindparam("j_queue", type_=_jobs.c.queue.type)
    values = [
        queue if column.name == "queue" else bindparam(f"j_{column.name}", type_=column.type)
        for column in _jobs.columns
    ]
    draining = exists().where(_states.c.queue == queue, _states.c.draining.is_(True))
    row = (
        insert(_jobs)
        .from_select([c.name for c in _jobs.columns], select(*values).where(~draining))
        .returning(_jobs.c.id)
    )
    event = {
        "status": bindparam("e_status", type_=_events.c.status.type),
        "message": bindparam("e_message", type_=_events.c.message.type),
        "created_at": bindparam("e_created_at", type_=_events.c.created_at.type),
        "attempt": literal_column("0"),
        "progress": literal_column("0.0"),
    }
    if not postgres:
        record = insert(_events).values(
            job_id=bindparam("e_job_id", type_=_events.c.job_id.type), **event
        )
        return row, record.returning(_events.c.id)
    inserted = row.cte("inserted")
    recorded = (
        insert(_events)
        .from_select(["job_id", *event], select(inserted.c.id, *event.values()))
        .returning(_events.c.id)
    )
    return recorded, None


def insert_queued(session: Session, job: Job, message: str) -> SimpleNamespace | None:
    """Insert `job` (every column set) and its QUEUED event in `session`'s transaction; the
    event (for the bus), or None when the job's queue is draining (nothing inserted)."""
    session.flush()  # rows this job refers to (a parent job, its requester) go first
    for column in _jobs.columns:  # every attribute loaded: none is read back from the row
        if column.key not in job.__dict__:
            setattr(job, column.key, None)
    params = {f"j_{column.name}": getattr(job, column.key) for column in _jobs.columns}
    params.update(e_status=job.status, e_message=message, e_created_at=job.created_at)
    postgres = session.get_bind().dialect.name == "postgresql"
    statement, record = _statements(postgres)
    event_id = session.execute(statement, params).scalar()
    if event_id is not None and record is not None:
        event_id = session.execute(record, {**params, "e_job_id": job.id}).scalar()
    if event_id is None:
        return None
    make_transient_to_detached(job)  # the row exists: the session tracks it, inserts nothing
    session.add(job)
    return SimpleNamespace(
        id=event_id,
        status=job.status,
        attempt=0,
        progress=0.0,
        message=message,
        error_code=None,
        worker=None,
        created_at=job.created_at,
    )
