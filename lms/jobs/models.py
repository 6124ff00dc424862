"""Job rows: every unit of background work, durable from request to outcome; and the
operators' state of the queues those jobs wait in (controls and alerts)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
_status = Enum(JobStatus, native_enum=False, length=16)


def _partial(name: str, *columns: str, where: str) -> Index:
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


class Job(Base):
    __tablename__ = "jobs"
    # Every status change rewrites the row in every index (it touches indexed columns), so
    # the indexes that only a few rows need are partial: a finished job sits in five.
    __table_args__ = (
        Index("ix_jobs_queue_status", "queue", "status"),
        # The relay's unpublished and long-unstarted jobs (and the metrics' backlog).
        _partial("ix_jobs_queued", "published_at", where="status = 'QUEUED'"),
        _partial("ix_jobs_subject", "subject_type", "subject_id", where="subject_id IS NOT NULL"),
        # The reaper's expired leases.
        _partial("ix_jobs_lease", "lease_expires_at", where="lease_expires_at IS NOT NULL"),
        _partial("ix_jobs_parent_id", "parent_id", where="parent_id IS NOT NULL"),
        _partial("ix_jobs_requested_by_id", "requested_by_id", where="requested_by_id IS NOT NULL"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    queue: Mapped[str] = mapped_column(String(50))
    status: Mapped[JobStatus] = mapped_column(_status, default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)  # admins only
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    subject_type: Mapped[str | None] = mapped_column(String(50))
    subject_id: Mapped[str | None] = mapped_column(String(100))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str | None] = mapped_column(String(200))
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    # W3C trace context of the span that enqueued it: the worker's spans join that trace.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    # The running attempt's lease (its holder is `worker`, its fencing token `attempts`):
    # renewed while the work runs; once past, the reaper retries or fails the job.
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    # Until then, one publisher (the enqueuer after commit, or one relay) owns publishing.
    publish_claimed_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobEvent(Base):
    """One status change or progress mark of a job, in the order it happened."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    status: Mapped[JobStatus] = mapped_column(_status)
    attempt: Mapped[int] = mapped_column(default=0)
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[str | None] = mapped_column(String(100))
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- operator state of the queues (steered and watched from lms.admin) ---------------


class AlertSeverity(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class QueueState(Base):
    """Operator controls of one queue. No row means: running normally."""

    __tablename__ = "queue_states"

    queue: Mapped[str] = mapped_column(String(50), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    draining: Mapped[bool] = mapped_column(default=False)
    # Workers that consumed the queue when it was paused: RESUME gives it back to them only,
    # so a worker started for `email` never starts eating `media`.
    paused_workers: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QueueAlert(Base):
    """An alert raised by a rule; open until an operator clears it."""

    __tablename__ = "queue_alerts"
    __table_args__ = (Index("ix_queue_alerts_open", "queue", "rule", "cleared_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # None for alerts about the whole system (a worker gone).
    queue: Mapped[str | None] = mapped_column(String(50))
    rule: Mapped[str] = mapped_column(String(50))
    # What the alert is about within the rule (a worker's hostname), "" when the queue says it all.
    target: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[AlertSeverity] = mapped_column(
        Enum(AlertSeverity, native_enum=False, length=16)
    )
    message: Mapped[str] = mapped_column(String(500))
    value: Mapped[float | None] = mapped_column()
    threshold: Mapped[float | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The condition stopped holding; the alert stays until cleared so nobody misses it.
    resolved_at: Mapped[datetime | None] = mapped_column()
    cleared_at: Mapped[datetime | None] = mapped_column(index=True)
    cleared_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


# Delivery records of side effects (lms.jobs.effects) are job tables too.
from lms.jobs.effects import EffectDelivery  # noqa: E402,F401
