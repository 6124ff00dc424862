"""Status transitions of a job as its worker sees them, each in its own short transaction.

Used by the task base in `tasks/`; kept here so the rules (what a redelivery does, when a
cancel wins) live with the job model, not with Celery.
"""

from __future__ import annotations

import time
import traceback as tb
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, literal, select, update

from lms.config import Settings, get_settings
from lms.db import session_scope, sync_engine
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
        "id", "kind", "queue", "status", "attempts", "max_attempts", "progress", "worker", "payload",
        "subject_type", "subject_id", "requested_by_id",
    )
]


@dataclass(frozen=True)
class Transition:
    """A job as a status change left it (what the task needs), and the event recorded."""

    job: SimpleNamespace
    event: SimpleNamespace

    def __getattr__(self, name: str):  # `transition.kind`, `.payload`, `.attempts`…
        return getattr(self.job, name)


def _transition(
    job_id: uuid.UUID,
    values: dict[str, Any],
    *,
    message: str,
    settings: Settings,
    error_code: str | None = None,
    only_if=None,
) -> Transition | None:
    """Change an unfinished job and record the event, in one atomic step; None if the job
    is finished (or gone, or `only_if` does not hold).

    This is the hot path of every job, so it is plain SQL, not the ORM: on PostgreSQL one
    statement (an UPDATE … RETURNING feeding an INSERT of the event), elsewhere two in one
    transaction.
    """
    now = utcnow()
    conditions = [_jobs.c.id == job_id, _jobs.c.status.not_in(TERMINAL)]
    if only_if is not None:
        conditions.append(only_if)
    change = update(_jobs).where(*conditions).values(**values, updated_at=now).returning(*_RETURNED)
    event_values = {
        "message": literal(message[:500], _events.c.message.type),
        "error_code": literal(error_code, _events.c.error_code.type),
        "created_at": literal(now, _events.c.created_at.type),
    }
    engine = sync_engine(settings)
    if engine.dialect.name == "postgresql":
        # A single statement is atomic: autocommit saves the BEGIN and COMMIT round trips.
        changed = change.cte("changed")
        recorded = (
            insert(_events)
            .from_select(
                ["job_id", "status", "attempt", "progress", "worker", *event_values],
                select(changed.c.id, changed.c.status, changed.c.attempts, changed.c.progress,
                       changed.c.worker, *event_values.values()),
            )
            .returning(_events.c.id.label("event_id"), _events.c.job_id)
            .cte("recorded")
        )
        statement = select(changed, recorded.c.event_id).join(recorded, recorded.c.job_id == changed.c.id)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(statement).mappings().one_or_none()
    else:
        with engine.begin() as connection:
            job = connection.execute(change).mappings().one_or_none()
            if job is None:
                return None
            event_id = connection.execute(
                insert(_events)
                .values(job_id=job["id"], status=job["status"], attempt=job["attempts"],
                        progress=job["progress"], worker=job["worker"], message=message[:500],
                        error_code=error_code, created_at=now)
                .returning(_events.c.id)
            ).scalar_one()
            row = {**job, "event_id": event_id}
    if row is None:
        return None
    job = SimpleNamespace(**{key: value for key, value in row.items() if key != "event_id"})
    event = SimpleNamespace(
        id=row["event_id"], status=row["status"], attempt=row["attempts"], progress=row["progress"],
        message=message[:500], error_code=error_code, worker=row["worker"], created_at=now,
    )
    publish_event(JOB_TOPIC, job_event_data(job, event), settings)
    return Transition(job, event)


def start(job_id: uuid.UUID, *, worker: str, task_id: str | None, settings: Settings) -> Transition | None:
    """Mark the job RUNNING with a new attempt; None when there is nothing to do.

    A delivery of a finished job (duplicate or late message) is skipped; a delivery of a
    RUNNING job is a redelivery after a worker died, and starts a new attempt.
    """
    values: dict[str, Any] = {
        "status": JobStatus.RUNNING,
        "attempts": _jobs.c.attempts + 1,
        "worker": worker,
        "started_at": utcnow(),
        "progress_message": "started",
    }
    if task_id:
        values["celery_task_id"] = task_id
    started = _transition(
        job_id, values, message="attempt started", settings=settings, only_if=_jobs.c.cancel_requested.is_(False)
    )
    if started is None:
        # Finished, unknown, or cancelled before it started: only the last needs a record.
        _transition(
            job_id, _finished(JobStatus.CANCELLED), message="cancelled before start", settings=settings,
            only_if=_jobs.c.cancel_requested.is_(True),
        )
    return started


def _finished(status: JobStatus, **values: Any) -> dict[str, Any]:
    return {"status": status, "finished_at": utcnow(), **values}


def succeed(job_id: uuid.UUID, result: dict[str, Any] | None, *, settings: Settings) -> None:
    _transition(
        job_id,
        _finished(JobStatus.SUCCEEDED, result=result, progress=1.0, progress_message="done"),
        message="succeeded",
        settings=settings,
    )


def fail(
    job_id: uuid.UUID, code: str, message: str, *, settings: Settings, traceback: str | None = None
) -> None:
    _transition(
        job_id,
        _finished(JobStatus.FAILED, error_code=code, error_message=message, error_traceback=traceback),
        message=message,
        error_code=code,
        settings=settings,
    )


def cancelled(job_id: uuid.UUID, *, settings: Settings) -> None:
    _transition(job_id, _finished(JobStatus.CANCELLED), message="cancelled while running", settings=settings)


def retrying(job_id: uuid.UUID, code: str, message: str, delay: float, *, settings: Settings) -> None:
    _transition(
        job_id,
        {"status": JobStatus.RETRYING, "error_code": code, "error_message": message},
        message=f"retrying in {delay:.0f}s: {message}",
        error_code=code,
        settings=settings,
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
                    session.execute(select(Job.cancel_requested).where(Job.id == self.job_id)).scalar()
                )
        return self._cancel

    def check(self) -> None:
        """Raise `JobCancelled` if the job was cancelled; call between steps."""
        if self.cancel_requested():
            raise JobCancelled()


def format_traceback(error: BaseException) -> str:
    return "".join(tb.format_exception(error))[-20_000:]
