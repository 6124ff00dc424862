"""Status transitions of a job as its worker sees them, each in its own short transaction.

Used by the task base in `tasks/`; kept here so the rules (what a redelivery does, when a
cancel wins) live with the job model, not with Celery.
"""

from __future__ import annotations

import functools
import time
import traceback as tb
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, bindparam, func, insert, select, update

from lms.config import Settings, get_settings
from lms.db import autocommit_engine, session_scope
from lms.events.bus import publish_event
from lms.jobs.models import TERMINAL, Job, JobEvent, JobStatus
from lms.jobs.service import JOB_TOPIC, job_event_data, record_event
from lms.models import utcnow


class JobCancelled(Exception):
    """Raised inside a task when an operator cancelled its job."""


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
    )
]


@dataclass(frozen=True)
class Transition:
    """A job as a status change left it (what the task needs), and the event recorded."""

    job: SimpleNamespace
    event: SimpleNamespace

    def __getattr__(self, name: str):  # `transition.kind`, `.payload`, `.attempts`…
        return getattr(self.job, name)


# Which columns each transition sets from parameters, which it sets from expressions, and
# the extra condition it needs. Statements are built once per transition and dialect.
_SPECS: dict[str, tuple[tuple[str, ...], dict[str, Any], Any]] = {
    "start": (
        ("status", "worker", "started_at", "progress_message"),
        {
            "attempts": _jobs.c.attempts + 1,
            "celery_task_id": func.coalesce(
                bindparam("celery_task_id", type_=String), _jobs.c.celery_task_id
            ),
        },
        _jobs.c.cancel_requested.is_(False),
    ),
    "cancel_before_start": (("status", "finished_at"), {}, _jobs.c.cancel_requested.is_(True)),
    "cancel": (("status", "finished_at"), {}, None),
    "succeed": (("status", "finished_at", "result", "progress", "progress_message"), {}, None),
    "fail": (("status", "finished_at", "error_code", "error_message", "error_traceback"), {}, None),
    "retry": (("status", "error_code", "error_message"), {}, None),
}


@functools.cache
def _statements(name: str, postgres: bool):
    columns, expressions, only_if = _SPECS[name]
    conditions = [
        _jobs.c.id == bindparam("job_id", type_=_jobs.c.id.type),
        _jobs.c.status.not_in(TERMINAL),
    ]
    if only_if is not None:
        conditions.append(only_if)
    values = {column: bindparam(column, type_=_jobs.c[column].type) for column in columns}
    change = (
        update(_jobs)
        .where(*conditions)
        .values(**values, **expressions, updated_at=bindparam("now", type_=_jobs.c.updated_at.type))
        .returning(*_RETURNED)
    )
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
                attempt=bindparam("attempt"),
                progress=bindparam("progress"),
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
    return select(changed, recorded.c.event_id).join(
        recorded, recorded.c.job_id == changed.c.id
    ), None


def _transition(
    name: str,
    job_id: uuid.UUID,
    *,
    message: str,
    settings: Settings,
    event_code: str | None = None,
    **values: Any,
) -> Transition | None:
    """Change an unfinished job and record the event, in one atomic step; None if the job
    is finished (or gone, or the transition's condition does not hold).

    This is the hot path of every job, so it is prepared SQL, not the ORM: on PostgreSQL
    one statement (an UPDATE … RETURNING feeding an INSERT of the event) on an autocommit
    connection, elsewhere two statements in one transaction.
    """
    now = utcnow()
    params = {
        "job_id": job_id,
        "now": now,
        "event_message": message[:500],
        "event_error_code": event_code,
        **values,
    }
    engine = autocommit_engine(settings)
    if engine.dialect.name == "postgresql":
        statement, _ = _statements(name, True)
        with engine.connect() as connection:
            row = connection.execute(statement, params).mappings().one_or_none()
    else:
        change, record = _statements(name, False)
        with engine.connect() as connection, connection.begin():
            job = connection.execute(change, params).mappings().one_or_none()
            if job is None:
                return None
            event_id = connection.execute(
                record,
                {
                    **params,
                    "event_status": job["status"],
                    "attempt": job["attempts"],
                    "progress": job["progress"],
                    "event_worker": job["worker"],
                },
            ).scalar_one()
            row = {**job, "event_id": event_id}
    if row is None:
        return None
    job = SimpleNamespace(**{key: value for key, value in row.items() if key != "event_id"})
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
    publish_event(JOB_TOPIC, job_event_data(job, event), settings)
    return Transition(job, event)


def start(
    job_id: uuid.UUID, *, worker: str, task_id: str | None, settings: Settings
) -> Transition | None:
    """Mark the job RUNNING with a new attempt; None when there is nothing to do.

    A delivery of a finished job (duplicate or late message) is skipped; a delivery of a
    RUNNING job is a redelivery after a worker died, and starts a new attempt.
    """
    started = _transition(
        "start",
        job_id,
        message="attempt started",
        settings=settings,
        status=JobStatus.RUNNING,
        worker=worker,
        started_at=utcnow(),
        progress_message="started",
        celery_task_id=task_id,
    )
    if started is None:
        # Finished, unknown, or cancelled before it started: only the last needs a record.
        _transition(
            "cancel_before_start",
            job_id,
            message="cancelled before start",
            settings=settings,
            status=JobStatus.CANCELLED,
            finished_at=utcnow(),
        )
    return started


def succeed(job_id: uuid.UUID, result: dict[str, Any] | None, *, settings: Settings) -> None:
    _transition(
        "succeed",
        job_id,
        message="succeeded",
        settings=settings,
        status=JobStatus.SUCCEEDED,
        finished_at=utcnow(),
        result=result,
        progress=1.0,
        progress_message="done",
    )


def fail(
    job_id: uuid.UUID, code: str, message: str, *, settings: Settings, traceback: str | None = None
) -> None:
    _transition(
        "fail",
        job_id,
        message=message,
        event_code=code,
        settings=settings,
        status=JobStatus.FAILED,
        finished_at=utcnow(),
        error_code=code,
        error_message=message,
        error_traceback=traceback,
    )


def cancelled(job_id: uuid.UUID, *, settings: Settings) -> None:
    _transition(
        "cancel",
        job_id,
        message="cancelled while running",
        settings=settings,
        status=JobStatus.CANCELLED,
        finished_at=utcnow(),
    )


def retrying(
    job_id: uuid.UUID, code: str, message: str, delay: float, *, settings: Settings
) -> None:
    _transition(
        "retry",
        job_id,
        message=f"retrying in {delay:.0f}s: {message}",
        event_code=code,
        settings=settings,
        status=JobStatus.RETRYING,
        error_code=code,
        error_message=message,
    )


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff: 2, 4, 8 … seconds, capped."""
    return min(cap, base ** max(1, attempt))


class Progress:
    """Reports progress at most once per `interval` and answers whether to cancel.

    The database is touched only on those ticks, so a tight ffmpeg loop costs nothing.
    """

    def __init__(self, job_id: uuid.UUID, settings: Settings | None = None, interval: float = 1.0):
        self.job_id = job_id
        self.settings = settings or get_settings()
        self.interval = interval
        self._last = 0.0
        self._cancel = False

    def __call__(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        with session_scope(self.settings) as session:
            job = session.get(Job, self.job_id)
            if job is None:
                return
            self._cancel = job.cancel_requested
            job.progress = max(0.0, min(1.0, fraction))
            job.progress_message = (message or "")[:500] or None
            record_event(session, job, message=job.progress_message, settings=self.settings)

    def cancel_requested(self) -> bool:
        """True once an operator asked to cancel (checked at most once per interval)."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            with session_scope(self.settings) as session:
                self._cancel = bool(
                    session.execute(
                        select(Job.cancel_requested).where(Job.id == self.job_id)
                    ).scalar()
                )
        return self._cancel

    def check(self) -> None:
        """Raise `JobCancelled` if the job was cancelled; call between steps."""
        if self.cancel_requested():
            raise JobCancelled()


def format_traceback(error: BaseException) -> str:
    return "".join(tb.format_exception(error))[-20_000:]
