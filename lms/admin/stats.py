"""Per-queue numbers from the jobs table, merged with the broker's depth and consumers.

Shared by the dashboard, `realtimeQueueStats`, the alert rules and `/metrics`, so every
view of a queue tells the same story.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.admin.broker_stats import QueueDepth
from lms.admin.inspection import Inspection
from lms.events.topics import camel
from lms.jobs.models import Job, JobStatus, QueueState
from lms.jobs.queues import QUEUES
from lms.models import utcnow

WINDOWS = (60, 300, 3600)


@dataclass
class QueueStats:
    queue_name: str
    depth: int | None = None  # messages waiting in the broker
    consumers: int | None = None
    waiting: int = 0  # QUEUED rows
    running: int = 0
    retrying: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    paused: bool = False
    draining: bool = False
    oldest_waiting_seconds: float | None = None
    broker_error: str | None = None

    def as_event(self) -> dict[str, Any]:
        """camelCase, as the `admin.queue_stats` topic carries it."""
        return {camel(name): value for name, value in asdict(self).items()}


@dataclass
class WindowStats:
    window_seconds: int
    succeeded: int = 0
    failed: int = 0

    @property
    def throughput_per_minute(self) -> float:
        return round((self.succeeded + self.failed) * 60 / self.window_seconds, 3)

    @property
    def failure_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return round(self.failed / finished, 4) if finished else None


@dataclass
class QueueActivity:
    windows: list[WindowStats] = field(default_factory=list)
    p50_duration_seconds: float | None = None
    p95_duration_seconds: float | None = None


def queue_states(session: Session) -> dict[str, QueueState]:
    return {state.queue: state for state in session.scalars(select(QueueState))}


def collect_stats(
    session: Session,
    depths: dict[str, QueueDepth],
    inspection: Inspection | None,
    queues: tuple[str, ...] | list[str] = QUEUES,
) -> dict[str, QueueStats]:
    """Counts by status, oldest waiting job, controls, broker depth and consumers per queue."""
    now = utcnow()
    result = {name: QueueStats(name) for name in queues}
    for queue, status, count in session.execute(
        select(Job.queue, Job.status, func.count())
        .where(Job.queue.in_(queues))
        .group_by(Job.queue, Job.status)
    ):
        setattr(result[queue], _STATUS_FIELD[status], count)
    for queue, oldest in session.execute(
        select(Job.queue, func.min(Job.created_at))
        .where(Job.queue.in_(queues), Job.status == JobStatus.QUEUED)
        .group_by(Job.queue)
    ):
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            result[queue].oldest_waiting_seconds = round((now - oldest).total_seconds(), 3)
    states = queue_states(session)
    for name, stats in result.items():
        state = states.get(name)
        stats.paused, stats.draining = (state.paused, state.draining) if state else (False, False)
        depth = depths.get(name)
        if depth is not None:
            stats.depth, stats.consumers, stats.broker_error = (
                depth.messages,
                depth.consumers,
                depth.error,
            )
        if stats.consumers is None and inspection is not None and inspection.answering:
            # The filesystem transport cannot count consumers: the workers tell us.
            stats.consumers = inspection.consumers_of(name)
    return result


_STATUS_FIELD = {
    JobStatus.QUEUED: "waiting",
    JobStatus.RUNNING: "running",
    JobStatus.RETRYING: "retrying",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def collect_activity(
    session: Session, queues: tuple[str, ...] | list[str] = QUEUES
) -> dict[str, QueueActivity]:
    """Throughput and failure rate over recent windows, p50/p95 run time over the last hour."""
    now = utcnow()
    result = {name: QueueActivity(windows=[WindowStats(w) for w in WINDOWS]) for name in queues}
    longest = now - timedelta(seconds=max(WINDOWS))
    finished = session.execute(
        select(Job.queue, Job.status, Job.started_at, Job.finished_at)
        .where(
            Job.queue.in_(queues),
            Job.finished_at >= longest,
            Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED)),
        )
        .order_by(Job.finished_at.desc())
        .limit(20_000)
    ).all()
    durations: dict[str, list[float]] = {}
    for queue, status, started, finished_at in finished:
        age = (now - finished_at).total_seconds()
        for window in result[queue].windows:
            if age <= window.window_seconds:
                if status == JobStatus.SUCCEEDED:
                    window.succeeded += 1
                else:
                    window.failed += 1
        if status == JobStatus.SUCCEEDED and started is not None:
            durations.setdefault(queue, []).append((finished_at - started).total_seconds())
    for queue, values in durations.items():
        values.sort()
        result[queue].p50_duration_seconds = round(quantile(values, 0.5), 4)
        result[queue].p95_duration_seconds = round(quantile(values, 0.95), 4)
    return result


def failure_window(
    session: Session, seconds: float, queues: tuple[str, ...] | list[str] = QUEUES
) -> dict[str, WindowStats]:
    """Succeeded/failed counts per queue over the last `seconds` (the failure-rate rule)."""
    since = utcnow() - timedelta(seconds=seconds)
    result = {name: WindowStats(int(seconds)) for name in queues}
    for queue, status, count in session.execute(
        select(Job.queue, Job.status, func.count())
        .where(
            Job.queue.in_(queues),
            Job.finished_at >= since,
            Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED)),
        )
        .group_by(Job.queue, Job.status)
    ):
        if status == JobStatus.SUCCEEDED:
            result[queue].succeeded = count
        else:
            result[queue].failed = count
    return result


def quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def snapshot_event(stats: dict[str, QueueStats], at: datetime | None = None) -> dict[str, Any]:
    """The `queueStatsUpdated` payload (JSON-able)."""
    return {"at": (at or utcnow()).isoformat(), "queues": [s.as_event() for s in stats.values()]}
