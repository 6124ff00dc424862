"""The pipeline engine: runs the pipelines declared in `lms` (`lms.jobs.pipelines`).

A pipeline module binds its declaration to code with `bind(...)`: a function per step, which
only does the work and returns a result, and the domain's hooks, which the engine calls
inside its own transactions. The engine does the rest, the same way for every pipeline:

- `begin`: the parent job's task; queues the step a (re)started pipeline runs next (the
  first that has not succeeded: a retry resumes at the failed step).
- `run_step`: a step's task; loads the subject (a cancelled pipeline or a deleted subject
  cancels the step), runs the step's code with progress that also reports the pipeline's
  overall progress, then `advance`s: in one transaction the step SUCCEEDS and the next one
  is queued, so no one ever sees the next step (or a finished subject) while this one still
  shows RUNNING. The last step's end SUCCEEDS the parent in that same transaction.
- `fail` / cancel: a permanent failure (or a transient one at the step's attempt limit) ends
  the step and the parent FAILED with the step's code; a cancel ends both CANCELLED.
- `run_inline`: an inline pipeline's job runs its steps one after another.

Every status write goes through the state machine (`lms.jobs.states.change`, or
`lms.jobs.service` to queue and retry jobs); the task base (`tasks/base.py`) finds a step the
engine already ended and leaves it alone. `pipelines/registry.py` registers a Celery task for
every job kind of every bound pipeline.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import session_scope
from lms.errors import LmsError, PermanentJobError, TransientJobError
from lms.jobs import states
from lms.jobs.lifecycle import JobCancelled, Progress
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.pipelines import STEP_TIME_LIMIT, Pipeline, Step, latest_steps
from lms.jobs.service import enqueue, retry_job
from lms.models import utcnow
from lms.storage import StorageError
from tasks.base import JobContext

log = logging.getLogger(__name__)
# Infrastructure that may come back: retried until the step's attempt limit.
UNAVAILABLE = (StorageError, ConnectionError, TimeoutError, OperationalError)
UNAVAILABLE_CODE = "STORAGE_UNAVAILABLE"


@dataclass(frozen=True)
class StepRun:
    """What a step's code gets: its job, the pipeline's subject, earlier results."""

    pipeline: Pipeline
    step: Step
    job: JobContext  # the step's own job (an inline pipeline's: the pipeline's job)
    pipeline_job_id: uuid.UUID
    subject: Any  # what the binding's `load` read (a frozen snapshot, never a live row)
    # Child steps: the latest successful result of each earlier step, by step name.
    # Inline steps: what the earlier steps of this run returned (anything, kept in memory).
    results: dict[str, Any]
    max_attempts: int

    @property
    def settings(self) -> Settings:
        return self.job.settings

    @property
    def progress(self) -> Progress:
        return self.job.progress

    @property
    def last_attempt(self) -> bool:
        return self.job.attempt >= self.max_attempts


@dataclass(frozen=True)
class Stop:
    """Returned by an inline step to end the pipeline early with `result` (nothing to do)."""

    result: dict[str, Any]


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclass(frozen=True)
class Bound:
    """A declared pipeline bound to its code. Hooks run inside the engine's transactions
    (`session`) and do the domain's writes; `row` is the subject as `lock` returned it."""

    pipeline: Pipeline
    steps: dict[str, Callable[[StepRun], Any]]
    # The subject's row for `parent` (locked when `lock` is true); None once it is gone.
    # By default the pipeline job itself is its subject.
    lock: Callable[[Session, Job, bool], Any] = lambda session, parent, lock: parent
    # The frozen snapshot step code works from (`StepRun.subject`), read from the row.
    snapshot: Callable[[Any], Any] = lambda row: row
    gone: tuple[str, str] = ("SUBJECT_NOT_FOUND", "the pipeline's subject was deleted")
    on_change: Callable[[Session, Any], None] = _nothing  # a step was queued
    on_success: Callable[[Session, Any, StepRun, dict], None] = _nothing
    on_failure: Callable[[Session, Any, StepRun, str, str], None] = _nothing
    on_cancel: Callable[[Session, Any], None] = _nothing
    on_progress: Callable[[StepRun, float, str | None], None] = _nothing  # overall progress
    cleanup: Callable[[StepRun], None] = _nothing  # after success or cancel (scratch files)
    done_message: str = "succeeded"  # the parent's last event

    def __post_init__(self) -> None:
        declared = {step.name for step in self.pipeline.steps}
        if set(self.steps) != declared:
            raise ValueError(
                f"pipeline {self.pipeline.name}: code for {sorted(self.steps)}, "
                f"declared {sorted(declared)}"
            )


_BOUND: dict[str, Bound] = {}


def bind(pipeline: Pipeline, steps: dict[str, Callable[[StepRun], Any]], **hooks: Any) -> Bound:
    """Bind `pipeline` to its step code and hooks, and register it for `tasks/`."""
    bound = Bound(pipeline, steps, **hooks)
    if _BOUND.setdefault(pipeline.kind, bound) is not bound:
        raise ValueError(f"pipeline {pipeline.kind} is bound twice")
    return bound


def bound_pipelines() -> tuple[Bound, ...]:
    return tuple(_BOUND.values())


# --- transactions ---------------------------------------------------------------------------


def _locked(session: Session, key: uuid.UUID | None) -> Job | None:
    if key is None:
        return None
    query = select(Job).where(Job.id == key)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _end(
    session: Session,
    job: Job | None,
    status: JobStatus,
    message: str,
    settings: Settings,
    *,
    code: str | None = None,
    result: dict | None = None,
) -> None:
    """End a step or parent job (if it has not ended) through the state machine."""
    if job is None or job.status in TERMINAL:
        return
    fields: dict[str, Any] = {"finished_at": utcnow()}
    if code:
        fields.update(error_code=code, error_message=message)
    if status == JobStatus.SUCCEEDED:
        fields.update(progress=1.0, progress_message="done", result=result)
    states.change(
        session,
        job,
        message=message[:500],
        status=status,
        event_code=code,
        settings=settings,
        **fields,
    )


def _end_step(session: Session, run: StepRun, status: JobStatus, message: str, **kw: Any) -> None:
    """End the running step in the transaction that moves its pipeline; the task base then
    finds the job finished and leaves it alone."""
    _end(session, _locked(session, run.job.job_id), status, message, run.settings, **kw)


def _queue(session: Session, bound: Bound, parent: Job, step: Step, settings: Settings) -> None:
    """Queue `step`: the same job row again after a failure or cancel, a new row otherwise,
    nothing if it is already on its way (a redelivered message); then the parent's progress."""
    pipeline = bound.pipeline
    existing = latest_steps(session, parent.id).get(step.kind)
    if existing is not None and existing.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        retry_job(session, existing.id, settings=settings)
    elif existing is None or existing.status in TERMINAL:
        subject_id = parent.payload[pipeline.subject_key]
        enqueue(
            session,
            step.kind,
            {pipeline.subject_key: subject_id, "pipeline_job_id": str(parent.id)},
            subject=(pipeline.subject, subject_id),
            requested_by_id=parent.requested_by_id,
            parent_id=parent.id,
            max_attempts=step.max_attempts,
            settings=settings,
        )


def begin(bound: Bound, parent_id: uuid.UUID, settings: Settings) -> str | None:
    """Start or resume the pipeline: queue the step it runs next; its name (None: none)."""
    pipeline = bound.pipeline
    with session_scope(settings) as session:
        parent = _locked(session, parent_id)
        if parent is None or parent.status in TERMINAL:
            return None
        row = bound.lock(session, parent, False)  # read only: the parent's lock suffices
        if row is None:
            code, message = bound.gone
            _end(session, parent, JobStatus.FAILED, message, settings, code=code)
            return None
        pending = pipeline.resume_step(latest_steps(session, parent_id))
        _queue(session, bound, parent, pending, settings)
        states.change(
            session,
            parent,
            message=f"{pending.name} queued",
            settings=settings,
            progress=pipeline.done_before(pending),
            progress_message=f"{pending.name} queued",
        )
        bound.on_change(session, row)
        return pending.name


def advance(bound: Bound, run: StepRun, result: dict[str, Any]) -> None:
    """End the step SUCCEEDED and queue the next one, in one transaction; after the last
    step, SUCCEED the parent too (`on_success` does the domain's writes in it). Raises
    `JobCancelled` if the pipeline was cancelled meanwhile."""
    settings, pipeline = run.settings, bound.pipeline
    with session_scope(settings) as session:
        parent = _locked(session, run.pipeline_job_id)
        row = bound.lock(session, parent, True) if parent is not None else None
        following = pipeline.following(run.step)
        if following is None:  # the last step: it stands or falls with the pipeline
            if row is None or parent.status in TERMINAL or parent.cancel_requested:
                raise JobCancelled()
            _end_step(session, run, JobStatus.SUCCEEDED, "succeeded", result=result)
            _end(session, parent, JobStatus.SUCCEEDED, bound.done_message, settings, result=result)
            bound.on_success(session, row, run, result)  # reads the pipeline as ended
            return
        if row is None or parent.status in TERMINAL:
            return
        _end_step(session, run, JobStatus.SUCCEEDED, "succeeded", result=result)
        if parent.cancel_requested:  # cancelled between two steps
            _end(session, parent, JobStatus.CANCELLED, "cancelled", settings)
            bound.on_cancel(session, row)
            return
        _queue(session, bound, parent, following, settings)
        states.change(
            session,
            parent,
            message=f"{run.step.name} done",
            settings=settings,
            progress=pipeline.done_before(following),
            progress_message=f"{run.step.name} done",
        )
        bound.on_change(session, row)


def fail(bound: Bound, run: StepRun, code: str, message: str, *, end_step: bool = True) -> None:
    """The pipeline failed at this step: the step (unless the task base records it, with a
    traceback) and the parent end FAILED with `code`; `on_failure` tells the domain."""
    settings = run.settings
    with session_scope(settings) as session:
        parent = _locked(session, run.pipeline_job_id)
        row = bound.lock(session, parent, True) if parent is not None else None
        if end_step:
            _end_step(session, run, JobStatus.FAILED, message, code=code)
        _end(session, parent, JobStatus.FAILED, message, settings, code=code)
        if row is not None:
            bound.on_failure(session, row, run, code, message)


def cancel_running(bound: Bound, run: StepRun) -> None:
    """The running step stopped on a cancel: it and the pipeline end CANCELLED."""
    settings = run.settings
    with session_scope(settings) as session:
        parent = _locked(session, run.pipeline_job_id)
        row = bound.lock(session, parent, True) if parent is not None else None
        _end_step(session, run, JobStatus.CANCELLED, "cancelled while running")
        _end(session, parent, JobStatus.CANCELLED, "cancelled", settings)
        if row is not None:
            bound.on_cancel(session, row)
    bound.cleanup(run)


# --- running a step -------------------------------------------------------------------------


def _load(bound: Bound, step: Step, job: JobContext) -> StepRun:
    parent_id = uuid.UUID(job.payload["pipeline_job_id"])
    with session_scope(job.settings) as session:
        parent = session.get(Job, parent_id)
        if parent is None or parent.status in TERMINAL or parent.cancel_requested:
            raise JobCancelled()  # the pipeline was cancelled meanwhile
        row = bound.lock(session, parent, False)
        if row is None:
            raise JobCancelled()  # its subject was deleted meanwhile
        me = session.get(Job, job.job_id)
        results = {
            bound.pipeline.step_of_kind(kind).name: found.result
            for kind, found in latest_steps(session, parent_id).items()
            if found.status == JobStatus.SUCCEEDED and found.result is not None
        }
        return StepRun(
            bound.pipeline,
            step,
            job,
            parent_id,
            bound.snapshot(row),
            results,
            me.max_attempts if me is not None else step.max_attempts,
        )


def run_step(bound: Bound, step: Step, job: JobContext) -> dict[str, Any]:
    """A child step's task: run its code, then move the pipeline on (or end it)."""
    run = _load(bound, step, job)
    run = replace(run, job=replace(job, progress=_OverallProgress(bound, run)))
    last = bound.pipeline.following(step) is None
    try:
        result = bound.steps[step.name](run)
        if last:
            # Scratch goes before the pipeline ends: once it reads SUCCEEDED, nothing of it
            # is left on this host (the outputs are in storage; a re-run fetches again).
            bound.cleanup(run)
            advance(bound, run, result)
    except JobCancelled:
        cancel_running(bound, run)
        raise
    except SoftTimeLimitExceeded as error:
        _past_time_limit(bound, run, error)
    except UNAVAILABLE as error:
        if run.last_attempt:
            fail(bound, run, UNAVAILABLE_CODE, str(error))
            raise PermanentJobError(str(error), code=UNAVAILABLE_CODE) from error
        raise TransientJobError(str(error), code=UNAVAILABLE_CODE) from error
    except LmsError as error:
        if not isinstance(error, TransientJobError) or run.last_attempt:
            fail(bound, run, error.code, error.message)
        raise
    except Exception:  # a bug: the subject must not stay in progress forever
        # The task base records this step's failure itself, with the traceback for operators.
        message = "processing failed unexpectedly; operators have the details"
        fail(bound, run, "INTERNAL_ERROR", message, end_step=False)
        raise
    if last:
        return result
    try:
        advance(bound, run, result)
    except SoftTimeLimitExceeded as error:  # the limit struck while handing over
        _past_time_limit(bound, run, error)
    return result


def _past_time_limit(bound: Bound, run: StepRun, error: BaseException) -> None:
    """The step ran past its declared limit (its ffmpeg was killed as the exception
    unwound): the step and the pipeline end FAILED with STEP_TIME_LIMIT, never retried."""
    message = f"{run.step.name} ran past its time limit of {run.step.time_limit:g} s"
    fail(bound, run, STEP_TIME_LIMIT, message)
    raise PermanentJobError(message, code=STEP_TIME_LIMIT) from error


class _OverallProgress:
    """The step's `Progress`, whose ticks also report the pipeline's overall progress (the
    earlier steps' weights plus this step's share) through `on_progress`, as often as the
    job row is written and no more."""

    def __init__(self, bound: Bound, run: StepRun):
        self._progress, self._bound, self._run = run.job.progress, bound, run
        self._done_before = bound.pipeline.done_before(run.step)
        self._last = 0.0

    def __call__(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        self._progress(fraction, message, force=force)
        now = time.monotonic()
        if not force and now - self._last < self._progress.interval:
            return
        self._last = now
        overall = self._done_before + self._run.step.weight * max(0.0, min(fraction, 1.0))
        self._bound.on_progress(self._run, overall, message)

    def __getattr__(self, name: str) -> Any:  # check(), cancel_requested(), interval…
        return getattr(self._progress, name)


def run_inline(bound: Bound, job: JobContext) -> dict[str, Any]:
    """An inline pipeline's job: its steps in order, each given the earlier ones' results;
    a step returning `Stop` ends the run early with its result. Outcomes are the task
    base's, as for any job (a retry runs every step again)."""
    results: dict[str, Any] = {}
    result: Any = None
    limit = bound.pipeline.max_attempts or job.settings.job_max_attempts
    for step in bound.pipeline.steps:
        run = StepRun(bound.pipeline, step, job, job.job_id, None, results, limit)
        result = bound.steps[step.name](run)
        if isinstance(result, Stop):
            return result.result
        results[step.name] = result
    return result
