"""Queue controls: PAUSE, RESUME, CLEAR and DRAIN, each recorded in the audit log.

The database holds the intent (`queue_states`), the broker and workers carry it out:
- PAUSE: the state is committed first (a worker that starts later reads it and does not
  consume the queue), then every worker is told to cancel its consumer. Running jobs finish.
  The workers whose `active_queues` held the queue are remembered (`paused_workers`).
- RESUME: only the remembered workers consume it again (`add_consumer` to them by name),
  so a `-Q media` worker never starts consuming `email`.
- CLEAR: the broker queue is purged, then every waiting row that may have had a message
  in it is marked CANCELLED with an event — nothing silently vanishes.
- DRAIN: `enqueue` refuses new jobs for the queue (QUEUE_DRAINING); waiting ones finish.

Broker calls block for up to the inspect timeout, so they are separate steps from the
database ones (`prepare` → `carry_out` → `finish`): the API runs them off its event loop.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lms import audit
from lms.admin import inspection
from lms.admin.access import require_control
from lms.admin.broker_stats import purge_queue
from lms.admin.errors import AdminCode
from lms.config import Settings, get_settings
from lms.errors import Conflict, LmsError, ValidationFailed
from lms.jobs import states
from lms.jobs.models import Job, JobStatus, QueueState
from lms.jobs.queues import QUEUES
from lms.models import utcnow
from lms.security import Viewer

log = logging.getLogger(__name__)


class QueueAction(enum.StrEnum):
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    CLEAR = "CLEAR"
    DRAIN = "DRAIN"


class BrokerUnavailable(LmsError):
    code = AdminCode.BROKER_UNAVAILABLE


@dataclass
class QueuePlan:
    queue: str
    action: QueueAction
    actor_id: uuid.UUID
    resume_workers: list[str] = field(default_factory=list)


@dataclass
class QueueOutcome:
    queue_name: str
    action: str
    paused: bool = False
    draining: bool = False
    affected_workers: list[str] = field(default_factory=list)
    purged_messages: int = 0
    cancelled_jobs: int = 0
    message: str = ""
    purged_at: datetime | None = None


def _state(session: Session, queue: str) -> QueueState:
    state = session.get(QueueState, queue)
    if state is None:
        state = QueueState(queue=queue, paused=False, draining=False, paused_workers=[])
        session.add(state)
    return state


def prepare(
    session: Session, viewer: Viewer, *, queue_name: str, action: str, reason: str | None = None
) -> QueuePlan:
    """Validate, record the new queue state and the audit entry (admins)."""
    actor = require_control(viewer)
    if queue_name not in QUEUES:
        raise ValidationFailed(
            f"unknown queue {queue_name!r}; queues are {', '.join(QUEUES)}",
            code=AdminCode.UNKNOWN_QUEUE,
        )
    action = QueueAction(action)
    state = _state(session, queue_name)
    plan = QueuePlan(queue_name, action, actor)
    if action == QueueAction.PAUSE:
        if state.paused:
            raise Conflict(f"{queue_name} is already paused", code=AdminCode.QUEUE_ALREADY_PAUSED)
        state.paused = True
    elif action == QueueAction.RESUME:
        if not state.paused and not state.draining:
            raise Conflict(
                f"{queue_name} is neither paused nor draining", code=AdminCode.QUEUE_NOT_PAUSED
            )
        plan.resume_workers = list(state.paused_workers or []) if state.paused else []
        state.paused, state.draining, state.paused_workers = False, False, []
    elif action == QueueAction.DRAIN:
        if state.draining:
            raise Conflict(
                f"{queue_name} is already draining", code=AdminCode.QUEUE_ALREADY_DRAINING
            )
        state.draining = True
    state.updated_by_id = actor
    state.updated_at = utcnow()
    audit.record(
        session,
        actor_id=actor,
        action=f"admin.queue.{action.value.lower()}",
        subject=("queue", queue_name),
        details={"reason": reason} if reason else {},
    )
    return plan


def carry_out(plan: QueuePlan, settings: Settings | None = None) -> QueueOutcome:
    """The broker side of the action (no database session is held meanwhile)."""
    settings = settings or get_settings()
    outcome = QueueOutcome(plan.queue, plan.action.value)
    try:
        if plan.action == QueueAction.PAUSE:
            outcome.affected_workers = _pause(plan.queue, settings)
        elif plan.action == QueueAction.RESUME and plan.resume_workers:
            alive = {w.hostname for w in inspection.inspect_workers(settings, fresh=True).workers}
            outcome.affected_workers = inspection.add_consumer(
                plan.queue, [w for w in plan.resume_workers if w in alive], settings
            )
        elif plan.action == QueueAction.CLEAR:
            outcome.purged_messages = purge_queue(plan.queue, settings)
            outcome.purged_at = utcnow()
    except LmsError:
        raise
    except Exception as error:  # noqa: BLE001 - the broker refused or is away: say which
        raise BrokerUnavailable(
            f"the broker could not {plan.action.value.lower()} {plan.queue}: {error}"
        ) from error
    return outcome


def _pause(queue: str, settings: Settings) -> list[str]:
    """Stop every worker consuming `queue`; the ones that consumed it (by their own
    `active_queues`, asked before the cancel) are those RESUME gives it back to. Every
    worker answers a cancel "ok", consumer or not, so the replies cannot tell."""
    before = inspection.inspect_workers(settings, fresh=True)
    consumers = {w.hostname for w in before.workers if queue in w.queues}
    # Broadcast, not just to `consumers`: a consumer that missed the inspection stops too.
    stopped = inspection.cancel_consumer(queue, settings)
    if not before.answering:  # nobody said what they consumed: never strand the queue
        log.warning("no inspection answer while pausing %s; RESUME goes to %s", queue, stopped)
        return stopped
    return sorted(consumers & set(stopped))


def finish(
    session: Session, viewer: Viewer, *, outcome: QueueOutcome, settings: Settings | None = None
) -> QueueOutcome:
    """Record what the broker did: paused workers, or the CANCELLED rows of a purge (admins)."""
    require_control(viewer)
    state = _state(session, outcome.queue_name)
    if outcome.action == QueueAction.PAUSE.value:
        state.paused_workers = sorted(
            set(state.paused_workers or []) | set(outcome.affected_workers)
        )
    elif outcome.action == QueueAction.CLEAR.value:
        outcome.cancelled_jobs = cancel_waiting(
            session, outcome.queue_name, outcome.purged_at or utcnow(), settings
        )
    outcome.paused, outcome.draining = state.paused, state.draining
    outcome.message = _message(outcome)
    return outcome


def cancel_waiting(
    session: Session, queue: str, purged_at: datetime, settings: Settings | None = None
) -> int:
    """Mark every job that was waiting when the purge ended as CANCELLED: those published
    before it, and unpublished ones (the relay must not send them). A job committed after
    it is left alone, even while its publish stamp is still on its way (lms.jobs.stamps)."""
    query = select(Job).where(
        Job.queue == queue,
        Job.status == JobStatus.QUEUED,
        Job.created_at <= purged_at,
        or_(Job.published_at.is_(None), Job.published_at <= purged_at),
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    jobs = list(session.scalars(query))
    now = utcnow()
    cleared = 0
    for job in jobs:
        cleared += states.change(
            session,
            job,
            message="cleared by an operator",
            status=JobStatus.CANCELLED,
            event_code=AdminCode.QUEUE_CLEARED,
            settings=settings,
            finished_at=now,
            error_code=AdminCode.QUEUE_CLEARED,
            error_message=f"cleared from {queue} by an operator",
        )
    return cleared


def _message(outcome: QueueOutcome) -> str:
    workers = ", ".join(outcome.affected_workers) or "no worker"
    return {
        "PAUSE": f"{outcome.queue_name} paused; {workers} stopped consuming (running jobs finish)",
        "RESUME": f"{outcome.queue_name} resumed; {workers} consuming again",
        "CLEAR": (
            f"{outcome.purged_messages} messages purged, "
            f"{outcome.cancelled_jobs} waiting jobs cancelled"
        ),
        "DRAIN": f"{outcome.queue_name} draining: new jobs are refused, waiting ones run",
    }[outcome.action]


def paused_queues(session: Session) -> list[QueueState]:
    return list(session.scalars(select(QueueState).where(QueueState.paused.is_(True))))


def is_draining(session: Session, queue: str) -> bool:
    """One primary-key read: does `enqueue` refuse jobs for `queue`?"""
    return bool(
        session.execute(select(QueueState.draining).where(QueueState.queue == queue)).scalar()
    )
