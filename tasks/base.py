"""The job task base: load the job by id, run the work, record the outcome.

Task functions receive a `JobContext` and return a JSON-able result. They raise
`PermanentJobError` (or any `LmsError`) for input that can never succeed, and
`TransientJobError` (or a connection/timeout error) for failures worth retrying.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.exc import DisconnectionError, OperationalError

from lms.config import Settings, get_settings
from lms.db import autocommit_engine, sync_sessionmaker
from lms.errors import LmsError, TransientJobError
from lms.jobs import leases, lifecycle, publishing, stamps, writer
from lms.jobs.engine import job_engine
from lms.jobs.lifecycle import JobCancelled, Progress
from lms.jobs.models import JobStatus
from lms.jobs.pipelines import STEP_TIME_LIMIT
from lms.observability import sentry, tracing
from lms.observability.context import tagged
from tasks.app import app

log = logging.getLogger(__name__)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError,
    ConnectionError,
    TimeoutError,
    OperationalError,
)
TRANSIENT_DB = (OperationalError, DisconnectionError)


@worker_process_init.connect
def _own_database_connections(**_kwargs: Any) -> None:
    """A forked pool child must not reuse the connections it inherited from the worker's
    main process (`lms worker` checks the database before forking): two children talking
    over one PostgreSQL socket corrupt each other's results and wedge the pool. Drop the
    inherited pool without closing the parent's sockets; the child opens its own."""
    settings = get_settings()
    engines = (sync_sessionmaker(settings).kw["bind"], autocommit_engine(settings))
    for engine in (*engines, job_engine(settings), job_engine(settings, durable=False)):
        engine.dispose(close=False)


@worker_process_shutdown.connect
def _finish_deferred_writes(**_kwargs: Any) -> None:
    """A pool process that exits cleanly sends the jobs it enqueued and lands its last
    success writes and bus events."""
    publishing.flush()
    stamps.flush()
    writer.flush()
    sentry.flush()
    tracing.flush()


class JobFailed(Exception):
    """Raised once the job row is recorded FAILED, so the Celery task ends as FAILURE too
    (events, Flower, exporters agree with `jobDashboard`). Its args are the error code and
    message; `task_acks_on_failure_or_timeout` acks the message, so nothing redelivers it,
    and `JobTask.throws` keeps it to one log line: the job row holds the traceback."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


@dataclass
class JobContext:
    job_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    progress: Progress
    settings: Settings


class JobTask(Task):
    abstract = True
    throws = (JobFailed,)

    def run_job(self, job_id: str, perform: Callable[[JobContext], dict | None]) -> None:
        settings = get_settings()
        try:
            key = uuid.UUID(job_id)
        except ValueError:
            log.error("task %s got a malformed job id %r; dropped", self.name, job_id)
            return
        try:
            job = start_attempt(self, key, settings)
        except TRANSIENT_DB as error:  # database away: keep the message, try later
            raise self.retry(countdown=5, max_retries=None, exc=error) from error
        if job is None:
            # A delivery of a cancelled job ends revoked even when the revoke broadcast
            # missed this worker (it was down, or the job was cancelled before publishing).
            if lifecycle.status_of(key, settings) == JobStatus.CANCELLED:
                self._end_revoked()
            return
        attempt = job.attempts
        context = JobContext(
            key,
            job.kind,
            dict(job.payload or {}),
            attempt,
            Progress(key, settings, attempt=attempt),
            settings,
        )
        leases.hold(key, attempt, settings)
        try:
            tags = {"job_id": key, "job_kind": job.kind, "queue": job.queue, "attempt": attempt}
            # The message's trace context, else the row's (a message sent without one).
            parent = self.request.get("traceparent") or job.traceparent
            attributes = {f"lms.{name}": str(value) for name, value in tags.items()}
            with (
                tagged(**tags, user_id=job.requested_by_id),
                tracing.span(
                    f"job {job.kind}", traceparent=parent, kind="CONSUMER", attributes=attributes
                ),
            ):
                self._perform_and_record(job, context, perform)
        finally:
            leases.release(key)

    def _perform_and_record(self, job, context: JobContext, perform) -> None:
        key, attempt, settings = context.job_id, context.attempt, context.settings
        # A write that fails even after its retries leaves the lease to expire: the reaper
        # then runs the job again (tasks are idempotent) or fails it at its limit.
        try:
            result = perform(context)
        except JobCancelled:
            if lifecycle.cancelled(key, attempt, settings=settings) is not None:
                self._end_revoked()
        except SoftTimeLimitExceeded:  # declared limit passed; unwinding killed its tools
            message = f"{context.kind} ran past its time limit of {self.soft_time_limit} s"
            self._fail(key, attempt, STEP_TIME_LIMIT, message, settings)
        except TRANSIENT_ERRORS as error:
            self._transient(job, error, settings)
        except LmsError as error:
            self._fail(key, attempt, error.code, error.message, settings)
        except Exception as error:  # noqa: BLE001 - an unknown failure is recorded, not lost
            log.exception("job %s (%s) crashed", key, job.kind)
            self._fail(
                key,
                attempt,
                "INTERNAL_ERROR",
                f"{type(error).__name__}: {error}",
                settings,
                traceback=lifecycle.format_traceback(error),
            )
        else:
            lifecycle.succeed(key, attempt, result, settings=settings, later=True)

    def _fail(self, key, attempt: int, code: str, message: str, settings, **extra) -> None:
        # Only the attempt that recorded the failure says so to Celery: a superseded attempt
        # (the reaper took the job over) ends quietly.
        if lifecycle.fail(key, attempt, code, message, settings=settings, **extra) is not None:
            raise JobFailed(code, message)

    def _end_revoked(self) -> None:
        """A job cancelled while running: Celery has no exception for REVOKED, so announce
        it as a revoked task would be, then end the task without a result (`Ignore`)."""
        try:
            self.send_event("task-revoked", terminated=False, signum=None, expired=False)
        except Exception:  # the row is recorded; the event is a courtesy
            log.warning("could not announce revoked task %s", self.request.id, exc_info=True)
        raise Ignore()

    def _transient(self, job, error: BaseException, settings: Settings) -> None:
        code = getattr(error, "code", None) or "TRANSIENT_FAILURE"
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        if job.attempts >= job.max_attempts:
            self._fail(
                job.id,
                job.attempts,
                code,
                f"gave up after {job.attempts} attempts: {message}",
                settings,
            )
            return
        delay = lifecycle.backoff_seconds(job.attempts)
        if lifecycle.retrying(job.id, job.attempts, code, message, delay, settings=settings):
            raise self.retry(countdown=delay, max_retries=None, exc=error)


def start_attempt(task: Task, job_id: uuid.UUID, settings: Settings, *, leased: bool = True):
    """Start an attempt for this delivery (None: nothing to run); a redelivery after a lost
    worker counts as an attempt like any other."""
    delivery = task.request.delivery_info or {}
    return lifecycle.start(
        job_id,
        worker=task.request.hostname,
        task_id=task.request.id,
        settings=settings,
        redelivered=bool(delivery.get("redelivered")),
        leased=leased,
    )


def job_task(kind: str, **options: Any):
    """Register `perform(context)` as the Celery task for job kind `kind`."""

    def decorate(perform: Callable[[JobContext], dict | None]):
        @app.task(name=kind, base=JobTask, bind=True, **options)
        def run(task: JobTask, job_id: str) -> None:
            task.run_job(job_id, perform)

        run.perform = perform
        return run

    return decorate


def parent_job_task(kind: str, begin: Callable[[uuid.UUID, Settings], Any], **options: Any):
    """Register the task of a job that starts other jobs and stays RUNNING while they work
    (a pipeline's parent: they end it). `begin(job_id, settings)` runs in the job's span;
    an error it raises fails the job with `INTERNAL_ERROR`."""

    @app.task(name=kind, bind=True, base=Task, throws=(JobFailed,), **options)
    def run(task: Task, job_id: str) -> None:
        settings = get_settings()
        key = uuid.UUID(job_id)
        try:
            # The parent holds no lease: it stays RUNNING while its children (leased) work.
            job = start_attempt(task, key, settings, leased=False)
        except TRANSIENT_DB as error:
            raise task.retry(countdown=5, max_retries=None, exc=error) from error
        if job is None:
            return
        tags = {"job_id": key, "job_kind": kind, "queue": job.queue}
        try:
            # The parent's span: each child is enqueued under it, and enqueues the next.
            with (
                tagged(**tags, user_id=job.requested_by_id),
                tracing.span(
                    f"job {kind}",
                    traceparent=task.request.get("traceparent") or job.traceparent,
                    kind="CONSUMER",
                    attributes={f"lms.{name}": str(value) for name, value in tags.items()},
                ),
            ):
                begin(key, settings)
        except Exception as error:  # noqa: BLE001 - recorded on the job, not lost
            log.exception("job %s (%s) could not start its work", key, kind)
            message = f"{type(error).__name__}: {error}"
            failed = lifecycle.fail(
                key,
                job.attempts,
                "INTERNAL_ERROR",
                message,
                settings=settings,
                traceback=lifecycle.format_traceback(error),
            )
            if failed is not None:  # Celery's view agrees with the row: FAILURE, acked
                raise JobFailed("INTERNAL_ERROR", message) from error

    return run
