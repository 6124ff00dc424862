"""Admin state that must survive restarts: queue controls, known workers, alerts, rollups."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


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


class KnownWorker(Base):
    """Every worker an inspection has seen, so one that vanishes is reported gone."""

    __tablename__ = "admin_workers"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Written by the worker process itself (tasks/heartbeat.py), not by an inspection.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)


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


class JobEventRollup(Base):
    """Counts of job events older than the retention window, per hour, queue, kind and status:
    old event rows are deleted, their totals remain."""

    __tablename__ = "job_event_rollups"
    __table_args__ = (
        Index("ix_job_event_rollups_key", "hour", "queue", "kind", "status", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hour: Mapped[datetime] = mapped_column()
    queue: Mapped[str] = mapped_column(String(50), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)
