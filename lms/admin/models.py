"""Admin state that must survive restarts: known workers and rollups of old job events.

Queue controls and queue alerts are the job machinery's (`lms.jobs.models`): enqueueing
obeys a draining queue, and a job that loses its worker raises an alert.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, utcnow


class KnownWorker(Base):
    """Every worker an inspection has seen, so one that vanishes is reported gone."""

    __tablename__ = "admin_workers"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Written by the worker process itself (tasks/heartbeat.py), not by an inspection.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)


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
