"""Status transitions of a job as its worker sees them, each in its own short transaction.

Used by the task base in `tasks/`; kept here so the rules (what a redelivery does, when a
cancel wins) live with the job model, not with Celery.
"""

from __future__ import annotations

import time
import traceback as tb
import uuid
from typing import Any

from sqlalchemy import select

from lms.config import Settings, get_settings
from lms.db import session_scope
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.service import record_event
from lms.models import utcnow


class JobCancelled(Exception):
    """Raised inside a task when an operator cancelled its job."""


def _locked(session, job_id: uuid.UUID) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def start(job_id: uuid.UUID, *, worker: str, task_id: str | None, settings: Settings) -> Job | None:
    """Mark the job RUNNING with a new attempt; None when there is nothing to do.

    A delivery of a finished job (duplicate or late message) is skipped; a delivery of a
    RUNNING job is a redelivery after a worker died, and starts a new attempt.
    """
    with session_scope(settings) as session:
        job = _locked(session, job_id)
        if job is None or job.status in TERMINAL:
            return None
        if job.cancel_requested:
            _finish(session, job, JobStatus.CANCELLED, "cancelled before start", settings)
            return None
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.worker = worker
        job.celery_task_id = task_id or job.celery_task_id
        job.started_at = utcnow()
        job.progress_message = "started"
        record_event(session, job, message=f"attempt {job.attempts} started", settings=settings)
        return job


def _finish(session, job: Job, status: JobStatus, message: str, settings: Settings, code=None) -> None:
    job.status = status
    job.finished_at = utcnow()
    record_event(session, job, message=message, error_code=code, settings=settings)


def succeed(job_id: uuid.UUID, result: dict[str, Any] | None, *, settings: Settings) -> None:
    with session_scope(settings) as session:
        job = _locked(session, job_id)
        if job is None or job.status in TERMINAL:
            return
        job.result = result
        job.progress = 1.0
        job.progress_message = "done"
        _finish(session, job, JobStatus.SUCCEEDED, "succeeded", settings)


def fail(
    job_id: uuid.UUID, code: str, message: str, *, settings: Settings, traceback: str | None = None
) -> None:
    with session_scope(settings) as session:
        job = _locked(session, job_id)
        if job is None or job.status in TERMINAL:
            return
        job.error_code, job.error_message, job.error_traceback = code, message, traceback
        _finish(session, job, JobStatus.FAILED, message[:500], settings, code=code)


def cancelled(job_id: uuid.UUID, *, settings: Settings) -> None:
    with session_scope(settings) as session:
        job = _locked(session, job_id)
        if job is not None and job.status not in TERMINAL:
            _finish(session, job, JobStatus.CANCELLED, "cancelled while running", settings)


def retrying(job_id: uuid.UUID, code: str, message: str, delay: float, *, settings: Settings) -> None:
    with session_scope(settings) as session:
        job = _locked(session, job_id)
        if job is None or job.status in TERMINAL:
            return
        job.status = JobStatus.RETRYING
        job.error_code, job.error_message = code, message
        record_event(
            session, job, message=f"retrying in {delay:.0f}s: {message}"[:500], error_code=code,
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
