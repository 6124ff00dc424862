"""A job's life as its worker sees it: start an attempt, hold its lease, finish it.

Used by the task base in `tasks/`; kept here so the rules (what a duplicate delivery does,
when a cancel wins, when a job has had enough attempts) live with the job model, not with
Celery. Every write goes through the state machine (`lms.jobs.states`), fenced by the
attempt this worker started.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
import uuid
from typing import Any

from sqlalchemy import select

from lms.config import Settings, get_settings
from lms.jobs import leases, writer
from lms.jobs.engine import job_engine
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.states import WORKER_LOST, Transition, lease_until, retrying_db, transition
from lms.models import utcnow

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a task when an operator cancelled its job (or its lease was lost)."""


def start(
    job_id: uuid.UUID,
    *,
    worker: str,
    task_id: str | None,
    settings: Settings,
    redelivered: bool = False,
    leased: bool = True,
) -> Transition | None:
    """Start a new attempt (RUNNING, with a lease); None when this delivery must not run.

    A delivery of a finished job is skipped; one for a job whose current attempt still
    holds a live lease is a duplicate and is dropped (two live attempts never run). A job
    that used up its attempts without finishing (its workers kept dying) fails as
    `WORKER_LOST`. `leased=False` is for a pipeline's parent job, which stays RUNNING
    while its steps (each with its own lease) work.
    """
    started = transition(
        "start",
        job_id,
        message="attempt started (redelivered)" if redelivered else "attempt started",
        settings=settings,
        status=JobStatus.RUNNING,
        worker=worker,
        started_at=utcnow(),
        progress_message="started",
        celery_task_id=task_id,
        lease_expires_at=lease_until() if leased else None,
    )
    if started is not None:
        return started
    _not_started(job_id, redelivered=redelivered, settings=settings)
    return None


def _not_started(job_id: uuid.UUID, *, redelivered: bool, settings: Settings) -> None:
    """Why a delivery did not start, and the transition that this calls for, if any."""
    query = select(
        Job.status, Job.attempts, Job.max_attempts, Job.cancel_requested, Job.lease_expires_at
    ).where(Job.id == job_id)

    def read():
        with job_engine(settings).connect() as connection:
            return connection.execute(query).one_or_none()

    row = retrying_db(read, f"job {job_id} read")
    if row is None or row.status in TERMINAL:
        return
    live = row.status == JobStatus.RUNNING and (
        row.lease_expires_at is None or row.lease_expires_at >= utcnow()
    )
    if live:
        log.warning(
            "job %s: %sdelivery while attempt %d holds a live lease; dropped",
            job_id,
            "re" if redelivered else "duplicate ",
            row.attempts,
        )
    elif row.cancel_requested:
        transition(
            "cancel_before_start",
            job_id,
            message="cancelled before start",
            settings=settings,
            status=JobStatus.CANCELLED,
            finished_at=utcnow(),
            lease_expires_at=None,
        )
    elif row.attempts >= row.max_attempts:
        lose(job_id, row.attempts, settings=settings)


def status_of(job_id: uuid.UUID, settings: Settings) -> JobStatus | None:
    """The job's status as recorded (None: no such job)."""
    query = select(Job.status).where(Job.id == job_id)

    def read():
        with job_engine(settings).connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    return retrying_db(read, f"job {job_id} status read")


def lose(job_id: uuid.UUID, attempt: int, *, settings: Settings) -> Transition | None:
    """Fail a job whose attempts ran out without an outcome (`WORKER_LOST`) and alert."""
    message = f"no attempt finished: {attempt} attempt(s) lost their worker (poison message?)"
    lost = transition(
        "lose",
        job_id,
        message=message,
        event_code=WORKER_LOST,
        settings=settings,
        attempt=attempt,
        status=JobStatus.FAILED,
        finished_at=utcnow(),
        error_code=WORKER_LOST,
        error_message=message,
        lease_expires_at=None,
    )
    if lost is not None:
        from lms.jobs.alerts import worker_lost_alert

        worker_lost_alert(lost.job, settings)
    return lost


def _finish(name: str, job_id: uuid.UUID, attempt: int, **values: Any) -> Transition | None:
    done = transition(name, job_id, attempt=attempt, **values)
    if done is None:  # the reaper took it over, or a pipeline step ended it already
        log.info(
            "job %s: attempt %d no longer holds the job; %s not recorded", job_id, attempt, name
        )
    return done


def succeed(
    job_id: uuid.UUID,
    attempt: int,
    result: dict[str, Any] | None,
    *,
    settings: Settings,
    later: bool = False,
) -> Transition | None:
    """`later`: written by the process's writer thread while the worker takes its next job
    (if that write is lost, the lease expires and the reaper runs the job again)."""
    if later:
        writer.submit(lambda: succeed(job_id, attempt, result, settings=settings))
        return None
    return _finish(
        "succeed",
        job_id,
        attempt,
        message="succeeded",
        settings=settings,
        status=JobStatus.SUCCEEDED,
        finished_at=utcnow(),
        result=result,
        progress=1.0,
        progress_message="done",
        lease_expires_at=None,
    )


def fail(
    job_id: uuid.UUID,
    attempt: int,
    code: str,
    message: str,
    *,
    settings: Settings,
    traceback: str | None = None,
) -> Transition | None:
    return _finish(
        "fail",
        job_id,
        attempt,
        message=message,
        event_code=code,
        settings=settings,
        status=JobStatus.FAILED,
        finished_at=utcnow(),
        error_code=code,
        error_message=message,
        error_traceback=traceback,
        lease_expires_at=None,
    )


def cancelled(job_id: uuid.UUID, attempt: int, *, settings: Settings) -> Transition | None:
    return _finish(
        "cancel",
        job_id,
        attempt,
        message="cancelled while running",
        settings=settings,
        status=JobStatus.CANCELLED,
        finished_at=utcnow(),
        lease_expires_at=None,
    )


def retrying(
    job_id: uuid.UUID, attempt: int, code: str, message: str, delay: float, *, settings: Settings
) -> Transition | None:
    """RETRYING until the delayed message comes back; the lease covers the wait, so a
    retry message that never arrives is found by the reaper."""
    return _finish(
        "retry",
        job_id,
        attempt,
        message=f"retrying in {delay:.0f}s: {message}",
        event_code=code,
        settings=settings,
        status=JobStatus.RETRYING,
        error_code=code,
        error_message=message,
        lease_expires_at=lease_until(delay + leases.lease_seconds()),
    )


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff: 2, 4, 8 … seconds, capped."""
    return min(cap, base ** max(1, attempt))


class Progress:
    """Reports progress at most once per `interval` (renewing the lease) and answers
    whether to stop: an operator cancelled the job, or this attempt lost its lease.

    The database is touched only on those ticks, so a tight ffmpeg loop costs nothing.
    """

    def __init__(
        self,
        job_id: uuid.UUID,
        settings: Settings | None = None,
        interval: float = 1.0,
        attempt: int | None = None,
    ):
        self.job_id = job_id
        self.settings = settings or get_settings()
        self.interval = interval
        self.attempt = attempt
        self._last = 0.0
        self._cancel = False

    def __call__(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.attempt is None:
            return
        ticked = transition(
            "progress",
            self.job_id,
            message=(message or "")[:500],
            settings=self.settings,
            attempt=self.attempt,
            progress=max(0.0, min(1.0, fraction)),
            progress_message=(message or "")[:500] or None,
            lease_expires_at=lease_until(),
        )
        self._cancel = ticked is None or bool(ticked.cancel_requested)
        leases.renewed(self.job_id, self._cancel)

    def cancel_requested(self) -> bool:
        """True once an operator asked to cancel or the lease is lost (checked at most once
        per interval; the heartbeat also brings the answer)."""
        if leases.stopped(self.job_id):
            self._cancel = True
        now = time.monotonic()
        if not self._cancel and now - self._last >= self.interval:
            self._last = now
            query = select(Job.cancel_requested, Job.status, Job.attempts).where(
                Job.id == self.job_id
            )

            def read():
                with job_engine(self.settings).connect() as connection:
                    return connection.execute(query).one_or_none()

            row = retrying_db(read, f"job {self.job_id} cancel check")
            self._cancel = (
                row is None
                or bool(row.cancel_requested)
                or (
                    self.attempt is not None
                    and (row.status != JobStatus.RUNNING or row.attempts != self.attempt)
                )
            )
        return self._cancel

    def check(self) -> None:
        """Raise `JobCancelled` if the job was cancelled; call between steps."""
        if self.cancel_requested():
            raise JobCancelled()


def format_traceback(error: BaseException) -> str:
    return "".join(tb.format_exception(error))[-20_000:]
