"""Recording a lone job in one statement: the row, its QUEUED event and the draining check.

`enqueue` of a single job in a transaction is the producer's hot path: through the ORM it
costs a read (is the queue draining?) and two INSERTs. Here it is one statement on
PostgreSQL (`INSERT … SELECT … WHERE NOT EXISTS (draining)` feeding the event's INSERT);
a fan-out's further jobs go through the ORM, whose flush batches them. The statement runs
on the driver's cursor (`lms.jobs.driver_sql`) and the job object is filled in as a loaded
row: SQLAlchemy's execution and the ORM's constructor and attribute events were more than
half of an enqueue's CPU.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from sqlalchemy import exists, insert, literal_column, select
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.sql.expression import bindparam

from lms.jobs import driver_sql
from lms.jobs.driver_sql import DriverStatement
from lms.jobs.models import Job, JobEvent, JobStatus, QueueState
from lms.models import new_id

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


def queued_row(
    kind: str,
    queue: str,
    payload: dict[str, Any] | None,
    subject: tuple[str, str] | None,
    requested_by_id,
    parent_id,
    max_attempts: int,
    now,
) -> dict[str, Any]:
    """The columns a new job's caller decides (`enqueue` and `enqueue_many` alike)."""
    return {
        "id": new_id(),
        "kind": kind,
        "queue": queue,
        "status": JobStatus.QUEUED,
        "payload": dict(payload or {}),
        "subject_type": subject[0] if subject else None,
        "subject_id": str(subject[1]) if subject else None,
        "requested_by_id": requested_by_id,
        "parent_id": parent_id,
        "max_attempts": max_attempts,
        "created_at": now,
        "updated_at": now,
    }


def insert_queued(
    session: Session, values: dict[str, Any], message: str
) -> tuple[Job, SimpleNamespace] | None:
    """Insert a job (`values`: every column) and its QUEUED event in `session`'s
    transaction: the job, attached to the session as a loaded row, and its event (for the
    bus); None when the job's queue is draining (nothing inserted)."""
    session.flush()  # rows this job refers to (a parent job, its requester) go first
    params = {f"j_{name}": value for name, value in values.items()}
    params.update(e_status=values["status"], e_message=message, e_created_at=values["created_at"])
    connection = session.connection()
    if driver_sql.usable(connection.engine):
        dialect = connection.dialect
        row = _driver_statement(dialect).fetchone(
            connection.connection, params, dialect, connection.invalidate
        )
        event_id = row[0] if row else None
    else:
        postgres = connection.dialect.name == "postgresql"
        statement, record = _statements(postgres)
        event_id = session.execute(statement, params).scalar()
        if event_id is not None and record is not None:
            event_id = session.execute(record, {**params, "e_job_id": values["id"]}).scalar()
    if event_id is None:
        return None
    job = _loaded(session, values)
    event = SimpleNamespace(
        id=event_id,
        status=job.status,
        attempt=0,
        progress=0.0,
        message=message,
        error_code=None,
        worker=None,
        created_at=job.created_at,
    )
    return job, event


@functools.cache
def _driver_statement(dialect) -> DriverStatement:
    return DriverStatement.compile(_statements(True)[0], dialect)


@functools.cache
def _new_job():
    configure_mappers()  # as the ORM's constructor would, before its first use
    return Job.__mapper__.class_manager.new_instance


def _loaded(session: Session, values: dict[str, Any]) -> Job:
    """The row just inserted, as the session would have loaded it: its attributes set
    without the ORM's change tracking (nothing for a flush to write), attached by identity."""
    job = _new_job()()
    job.__dict__.update(values)
    make_transient_to_detached(job)
    session.add(job)
    return job
