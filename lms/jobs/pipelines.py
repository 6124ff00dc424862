"""Pipeline declarations, and what requests do with a pipeline: start, cancel, retry.

A pipeline is declared once, as a `Pipeline` of `Step`s: the parent job's kind, what it
works on, its steps in order with their job kinds (hence queues), progress weights, attempt
limits and time limits, and where a retry resumes. The declaration lives beside its domain
(`lms/content/steps.py`, `lms/enrollments/certificates.py`) so the API can read it (step
names, weights, the parent kind) without importing worker code; the workers run it through
the engine in `pipelines/engine.py`, which binds each step to the code that does its work
and registers a Celery task per job kind.

Two shapes:
- child steps (the default): the parent job's task queues the first step that has not
  succeeded; each step is a child job (`parent_id`) and the engine queues the next one in
  the transaction that ends it; the last step's end ends the parent.
- `inline=True`: short work whose steps share data in memory (a PDF). The steps run one
  after another inside the pipeline's own job; a retry runs them all again (they are
  idempotent).

Every status write goes through the state machine (`lms.jobs.states`), here and in the
engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.jobs import states
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.queues import queue_for
from lms.jobs.service import cancel_job, enqueue, retry_job
from lms.models import utcnow

RESUME_AT_FAILED_STEP = "failed_step"  # a retry keeps the steps that succeeded
RESUME_FROM_START = "start"  # a retry runs every step again
# A step (or an inline pipeline's job) that ran past its declared time limit.
STEP_TIME_LIMIT = "STEP_TIME_LIMIT"


@dataclass(frozen=True)
class Step:
    """One step: a job of `kind` (on that kind's queue) whose code returns a result."""

    name: str
    kind: str = ""  # a child step's job kind (an inline step runs in the pipeline's job)
    weight: float = 0.0  # its share of the pipeline's progress (the weights add up to 1)
    # A child step's own job: its attempt limit and its time limit in seconds (None: none;
    # past it the step ends FAILED with STEP_TIME_LIMIT, see `pipelines/registry.py`). An
    # inline pipeline's steps share the pipeline job's.
    max_attempts: int = 3
    time_limit: float | None = None

    @property
    def queue(self) -> str:
        return queue_for(self.kind)


@dataclass(frozen=True)
class Pipeline:
    name: str
    kind: str  # the parent job's kind (also its task's name)
    subject: str  # what it works on: the job subject type; its id is the payload's `<subject>_id`
    steps: tuple[Step, ...]
    inline: bool = False
    resume: str = RESUME_AT_FAILED_STEP
    max_attempts: int | None = None  # the parent job's limit (None: LMS_JOB_MAX_ATTEMPTS)
    time_limit: float | None = None  # an inline pipeline's job, as a step's (None: none)
    _by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"pipeline {self.name} declares no steps")
        names = [step.name for step in self.steps]
        kinds = [step.kind for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline {self.name}: step names must be unique")
        if not self.inline and (
            not all(kinds) or len(set(kinds)) != len(kinds) or self.kind in kinds
        ):
            raise ValueError(f"pipeline {self.name}: each child step needs a job kind of its own")
        if self.resume not in (RESUME_AT_FAILED_STEP, RESUME_FROM_START):
            raise ValueError(f"pipeline {self.name}: unknown resume rule {self.resume!r}")
        if abs(sum(step.weight for step in self.steps) - 1.0) > 1e-6:
            raise ValueError(f"pipeline {self.name}: step weights must add up to 1")
        object.__setattr__(self, "_by_name", {step.name: step for step in self.steps})

    @property
    def queue(self) -> str:
        return queue_for(self.kind)

    @property
    def subject_key(self) -> str:
        return f"{self.subject}_id"

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every job kind this pipeline runs: the parent's, then the child steps'."""
        return (self.kind,) if self.inline else (self.kind, *(s.kind for s in self.steps))

    def step(self, name: str) -> Step:
        return self._by_name[name]

    def step_of_kind(self, kind: str) -> Step:
        return next(step for step in self.steps if step.kind == kind)

    def following(self, step: Step) -> Step | None:
        index = self.steps.index(step)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None

    def done_before(self, step: Step) -> float:
        """The pipeline's progress when `step` starts: the weights of the steps before it."""
        return sum(s.weight for s in self.steps[: self.steps.index(step)])

    def resume_step(self, latest: dict[str, Job]) -> Step:
        """The step a (re)started pipeline runs next: the first that has not succeeded
        (`RESUME_AT_FAILED_STEP`; the last one again if all did), or the first."""
        if self.resume == RESUME_FROM_START:
            return self.steps[0]
        return next(
            (
                step
                for step in self.steps
                if getattr(latest.get(step.kind), "status", None) != JobStatus.SUCCEEDED
            ),
            self.steps[-1],
        )


def latest_steps(session: Session, parent_id: uuid.UUID) -> dict[str, Job]:
    """Each step's newest child job by kind (a re-run of a finished step adds a newer row)."""
    latest: dict[str, Job] = {}
    for job in session.scalars(
        select(Job).where(Job.parent_id == parent_id).order_by(Job.created_at)
    ):
        latest[job.kind] = job
    return latest


def start(
    session: Session,
    pipeline: Pipeline,
    subject_id: Any,
    *,
    payload: dict[str, Any] | None = None,
    requested_by_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> Job:
    """Record the pipeline's job in `session`'s transaction; after commit its task runs."""
    job = enqueue(
        session,
        pipeline.kind,
        {pipeline.subject_key: str(subject_id), **(payload or {})},
        subject=(pipeline.subject, str(subject_id)),
        requested_by_id=requested_by_id,
        max_attempts=pipeline.max_attempts,
        settings=settings,
    )
    session.flush()  # the job row first: no ORM relationship orders it before the subject's
    return job


def cancel(
    session: Session, pipeline: Pipeline, parent: Job, *, settings: Settings | None = None
) -> bool:
    """Cancel the pipeline `parent` (locked by the caller): waiting steps at once. True when
    it ended now; False when a running step was asked to stop and will end the pipeline
    itself (it sees the request within a second and cleans up after itself)."""
    if pipeline.inline:
        cancel_job(session, parent.id, settings=settings)
        session.refresh(parent)
        return parent.status in TERMINAL
    running_step = False
    for step in session.scalars(select(Job).where(Job.parent_id == parent.id)):
        if step.status not in TERMINAL:
            cancel_job(session, step.id, settings=settings)
            running_step = running_step or step.status == JobStatus.RUNNING
    if parent.status == JobStatus.RUNNING and running_step:
        states.change(
            session, parent, message="cancel requested", settings=settings, cancel_requested=True
        )
        return False
    if parent.status == JobStatus.RUNNING:  # between two steps: no step will end it
        states.change(
            session,
            parent,
            message="cancelled",
            status=JobStatus.CANCELLED,
            settings=settings,
            finished_at=utcnow(),
        )
    else:
        cancel_job(session, parent.id, settings=settings)
    return True


def retry(
    session: Session, pipeline: Pipeline, parent: Job, *, settings: Settings | None = None
) -> Job:
    """Run a failed or cancelled pipeline again as the same job; its task resumes where the
    declaration says (`Pipeline.resume`)."""
    return retry_job(session, parent.id, settings=settings)
