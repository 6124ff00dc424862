"""The job state machine: the only code that changes a job's status, attempts or lease.

Every transition is one compare-and-set `UPDATE … WHERE id = … AND status … AND attempts = …`
that also records its job event, so a duplicate message, a stale worker or a second relay
finds the guard false and changes nothing. `attempts` is the fencing token of a running
attempt: only the holder of the current attempt can renew, finish, fail or retry it.

Worker transitions run as prepared SQL on an autocommit connection (the hot path: on
PostgreSQL one statement per transition); `change()` serves service code that already has a
session (cancel, retry, pipelines, operators). Transient database errors are retried with a
short backoff before a write gives up; a write that still fails leaves the lease to expire.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lms.config import Settings
from lms.events.bus import publish_event
from lms.events.topics import JOB as JOB_TOPIC
from lms.jobs import driver_sql, writer
from lms.jobs.driver_sql import DriverStatement
from lms.jobs.engine import job_engine
from lms.jobs.models import Job, JobEvent, JobStatus
from lms.jobs.settings import job_settings
from lms.models import utcnow

log = logging.getLogger(__name__)
WORKER_LOST = "WORKER_LOST"
T = TypeVar("T")

_jobs = Job.__table__
_events = JobEvent.__table__
_RETURNED = [
    _jobs.c[name]
    for name in (
        "id",
        "kind",
        "queue",
        "status",
        "attempts",
        "max_attempts",
        "progress",
        "worker",
        "payload",
        "subject_type",
        "subject_id",
        "requested_by_id",
        "cancel_requested",
        "lease_expires_at",
        "traceparent",  # the worker's spans continue the trace that enqueued the job
    )
]
_now = bindparam("now", type_=_jobs.c.updated_at.type)
_attempt = bindparam("attempt", type_=Integer)
_WAITING = (JobStatus.QUEUED, JobStatus.RETRYING)
_LEASED = (JobStatus.RUNNING, JobStatus.RETRYING)


def _status_in(statuses: tuple[JobStatus, ...]):
    # A plain IN of fixed values, not an expanding parameter: the statement then compiles
    # to one constant SQL string (see `_driver_sql`).
    return _jobs.c.status.in_([literal(status, _jobs.c.status.type) for status in statuses])


_expired = and_(_jobs.c.lease_expires_at.is_not(None), _jobs.c.lease_expires_at < _now)
# The attempt this worker holds, still current: its lease may be renewed or ended.
_mine = and_(_jobs.c.status == JobStatus.RUNNING, _jobs.c.attempts == _attempt)
# Free to start: waiting, or running under a lease that expired (its worker is gone).
_startable = or_(_status_in(_WAITING), and_(_jobs.c.status == JobStatus.RUNNING, _expired))


@dataclass(frozen=True)
class _Spec:
    sets: tuple[str, ...]  # columns set from parameters of the same name
    where: tuple  # conditions besides the id
    expressions: dict[str, Any] | None = None  # columns set from SQL expressions
    event: bool = True


_SPECS: dict[str, _Spec] = {
    "start": _Spec(
        ("status", "worker", "started_at", "progress_message", "lease_expires_at"),
        (_startable, _jobs.c.cancel_requested.is_(False), _jobs.c.attempts < _jobs.c.max_attempts),
        {
            "attempts": _jobs.c.attempts + 1,
            "celery_task_id": func.coalesce(
                bindparam("celery_task_id", type_=String), _jobs.c.celery_task_id
            ),
        },
    ),
    "renew": _Spec(("lease_expires_at",), (_mine,), event=False),
    "progress": _Spec(("progress", "progress_message", "lease_expires_at"), (_mine,)),
    "succeed": _Spec(
        ("status", "finished_at", "result", "progress", "progress_message", "lease_expires_at"),
        (_mine,),
    ),
    "fail": _Spec(
        (
            "status",
            "finished_at",
            "error_code",
            "error_message",
            "error_traceback",
            "lease_expires_at",
        ),
        (_mine,),
    ),
    "cancel": _Spec(("status", "finished_at", "lease_expires_at"), (_mine,)),
    "retry": _Spec(("status", "error_code", "error_message", "lease_expires_at"), (_mine,)),
    # A delivery of a job an operator cancelled before it started.
    "cancel_before_start": _Spec(
        ("status", "finished_at", "lease_expires_at"),
        (_startable, _jobs.c.cancel_requested.is_(True)),
    ),
    # Past its limit with no live attempt: a poison message or a worker that keeps dying.
    "lose": _Spec(
        ("status", "finished_at", "error_code", "error_message", "lease_expires_at"),
        (
            or_(_status_in(_WAITING), and_(_status_in(_LEASED), _expired)),
            _jobs.c.attempts == _attempt,
            _jobs.c.attempts >= _jobs.c.max_attempts,
        ),
    ),
    # The reaper: a lease expired below the limit; queue the job again and republish it.
    "requeue": _Spec(
        (
            "status",
            "progress_message",
            "published_at",
            "publish_claimed_until",
            "lease_expires_at",
        ),
        (
            _status_in(_LEASED),
            _expired,
            _jobs.c.attempts == _attempt,
            _jobs.c.attempts < _jobs.c.max_attempts,
        ),
    ),
}


# Commits that must survive a database crash; the others are repaired if lost: by the
# lease and the reaper, or (a start) by the relay (see lms.jobs.engine, docs/reliability.md).
_DURABLE = frozenset({"cancel_before_start"})


@dataclass(frozen=True)
class Transition:
    """A job as a status change left it (what the task needs), and the event recorded."""

    job: SimpleNamespace
    event: SimpleNamespace | None

    def __getattr__(self, name: str):  # `transition.kind`, `.payload`, `.attempts`…
        return getattr(self.job, name)


def transient(error: BaseException) -> bool:
    """A database error worth retrying: a dropped or refused connection."""
    if isinstance(error, (OperationalError, DisconnectionError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def retrying_db(action: Callable[[], T], what: str) -> T:
    """Run `action`, retrying transient database errors with a short doubling pause."""
    tuning = job_settings()
    pause = tuning.db_retry_pause_seconds
    for remaining in range(tuning.db_retries - 1, -1, -1):
        try:
            return action()
        except Exception as error:
            if not remaining or not transient(error):
                raise
            log.warning(
                "%s: transient database error, retrying: %s", what, error.__class__.__name__
            )
            time.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


@functools.cache
def _statements(name: str, postgres: bool):
    spec = _SPECS[name]
    values = {column: bindparam(column, type_=_jobs.c[column].type) for column in spec.sets}
    change = (
        update(_jobs)
        .where(_jobs.c.id == bindparam("job_id", type_=_jobs.c.id.type), *spec.where)
        .values(**values, **(spec.expressions or {}), updated_at=_now)
        .returning(*_RETURNED)
    )
    if not spec.event:
        return change, None
    event_values = {
        # Named apart from job columns: an UPDATE turns parameters named like columns into SETs.
        "message": bindparam("event_message", type_=_events.c.message.type),
        "error_code": bindparam("event_error_code", type_=_events.c.error_code.type),
        "created_at": bindparam("now", type_=_events.c.created_at.type),
    }
    if not postgres:
        record = (
            insert(_events)
            .values(
                job_id=bindparam("job_id", type_=_events.c.job_id.type),
                status=bindparam("event_status", type_=_events.c.status.type),
                attempt=bindparam("event_attempt"),
                progress=bindparam("event_progress"),
                worker=bindparam("event_worker", type_=_events.c.worker.type),
                **event_values,
            )
            .returning(_events.c.id)
        )
        return change, record
    changed = change.cte("changed")
    recorded = (
        insert(_events)
        .from_select(
            ["job_id", "status", "attempt", "progress", "worker", *event_values],
            select(
                changed.c.id,
                changed.c.status,
                changed.c.attempts,
                changed.c.progress,
                changed.c.worker,
                *event_values.values(),
            ),
        )
        .returning(_events.c.id.label("event_id"), _events.c.job_id)
        .cte("recorded")
    )
    joined = select(changed, recorded.c.event_id).join(recorded, recorded.c.job_id == changed.c.id)
    return joined, None


@dataclass(frozen=True)
class _DriverTransition:
    """A transition's PostgreSQL statement on the pooled connection's own cursor
    (`lms.jobs.driver_sql`): a worker runs two per job. The returned row gets the same type
    processing as through SQLAlchemy."""

    statement: DriverStatement
    columns: tuple[str, ...]

    def run(self, engine, values: dict[str, Any]) -> dict | None:
        dialect = engine.dialect
        dbapi_error = dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()
        except dbapi_error as error:  # as `engine.connect()` raises it
            raise DBAPIError.instance(None, None, error, dbapi_error, dialect=dialect) from error
        try:

            def invalidate(error: Exception) -> None:  # this connection and the older ones
                engine.pool._invalidate(connection, error)

            row = self.statement.fetchone(connection, values, dialect, invalidate)
        finally:
            connection.close()  # back to the pool (an invalidated one is discarded)
        if row is None:
            return None
        job = dict(zip(self.columns, row, strict=True))
        job["status"] = JobStatus(job["status"])
        job["lease_expires_at"] = _LEASE_TYPE.process_result_value(job["lease_expires_at"], dialect)
        return job


_LEASE_TYPE = _jobs.c.lease_expires_at.type


@functools.cache
def _driver_sql(name: str, dialect) -> _DriverTransition:
    columns = tuple(column.key for column in _RETURNED)
    if _SPECS[name].event:
        columns += ("event_id",)
    return _DriverTransition(DriverStatement.compile(_statements(name, True)[0], dialect), columns)


def transition(
    name: str,
    job_id: uuid.UUID,
    *,
    settings: Settings,
    message: str = "",
    event_code: str | None = None,
    attempt: int | None = None,
    publish: bool = True,
    **values: Any,
) -> Transition | None:
    """Apply transition `name` if its guard holds; None if it does not (or the job is gone).

    The change and its event are one atomic step: on PostgreSQL one statement (an UPDATE …
    RETURNING feeding the event's INSERT), elsewhere two in one transaction.
    """
    now = utcnow()
    params = {
        "job_id": job_id,
        "now": now,
        "attempt": attempt,
        "event_message": message[:500],
        "event_error_code": event_code,
        **values,
    }
    engine = job_engine(settings, durable=name in _DURABLE)
    postgres = engine.dialect.name == "postgresql"
    change, record = _statements(name, postgres)

    def run() -> dict | None:
        if postgres:
            if driver_sql.usable(engine):
                return _driver_sql(name, engine.dialect).run(engine, params)
            with engine.connect() as connection:
                return connection.execute(change, params).mappings().one_or_none()
        with engine.connect() as connection, connection.begin():
            job = connection.execute(change, params).mappings().one_or_none()
            if job is None or record is None:
                return job
            event_id = connection.execute(
                record,
                {
                    **params,
                    "event_status": job["status"],
                    "event_attempt": job["attempts"],
                    "event_progress": job["progress"],
                    "event_worker": job["worker"],
                },
            ).scalar_one()
            return {**job, "event_id": event_id}

    row = retrying_db(run, f"job {job_id} {name}")
    if row is None:
        return None
    job = SimpleNamespace(**{key: value for key, value in row.items() if key != "event_id"})
    if "event_id" not in row:
        return Transition(job, None)
    event = SimpleNamespace(
        id=row["event_id"],
        status=row["status"],
        attempt=row["attempts"],
        progress=row["progress"],
        message=message[:500],
        error_code=event_code,
        worker=row["worker"],
        created_at=now,
    )
    if publish:
        # In order with the process's other deferred writes, off the worker's path.
        data = job_event_data(job, event)
        writer.submit_event(JOB_TOPIC, data, settings)
    return Transition(job, event)


def lease_until(seconds: float | None = None) -> datetime:
    return utcnow() + timedelta(
        seconds=job_settings().lease_seconds if seconds is None else seconds
    )


def job_event_data(job, event) -> dict[str, Any]:
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
        "at": event.created_at.isoformat(),
    }


def record_event(
    session: Session,
    job: Job,
    *,
    message: str | None = None,
    error_code: str | None = None,
    settings: Settings | None = None,
) -> JobEvent:
    """Store the job's current state as an event and publish it on the bus after commit."""
    from lms.jobs.service import after_commit  # the outbox hooks live with the service

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


def change(
    session: Session,
    job: Job,
    *,
    message: str,
    status: JobStatus | None = None,
    expect: Iterable[JobStatus] | None = None,
    event_code: str | None = None,
    settings: Settings | None = None,
    **fields: Any,
) -> bool:
    """Change `job` in `session`'s transaction if the row is still as this session saw it
    (same status, same attempt; `expect` widens the statuses accepted) and record the event.

    False when another writer got there first (a worker finished it, the reaper requeued
    it): the caller's view is stale and nothing was written. Leaving a running state ends
    the lease.
    """
    statuses = tuple(expect) if expect is not None else (job.status,)
    values = dict(fields)
    if status is not None:
        values["status"] = status
        if status not in _LEASED:
            values.setdefault("lease_expires_at", None)
    values["updated_at"] = utcnow()
    guard = update(Job).where(
        Job.id == job.id, Job.status.in_(statuses), Job.attempts == job.attempts
    )
    result = session.execute(
        guard.values(**values), execution_options={"synchronize_session": False}
    )
    if result.rowcount != 1:
        log.info("job %s moved on before %r; left as it is", job.id, message)
        return False
    for key, value in values.items():
        set_committed_value(job, key, value)
    record_event(session, job, message=message, error_code=event_code, settings=settings)
    return True
