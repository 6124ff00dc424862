"""The operator's read views: dashboard, realtime stats, queue health, event history.

The caller brings the live parts (a worker inspection and the broker's queue depths,
fetched off the event loop); these functions add the durable history from the database.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin import workers as known_workers
from lms.admin.access import require_operator
from lms.admin.broker_stats import QueueDepth
from lms.admin.errors import AdminCode
from lms.admin.inspection import Inspection, WorkerInfo
from lms.admin.rules import ERROR, HEALTHY, WARNING, Condition, queue_conditions, status_of, worse
from lms.admin.settings import admin_settings
from lms.admin.stats import collect_activity, collect_stats, failure_window, snapshot_event
from lms.errors import ValidationFailed
from lms.jobs.alerts import alert_view
from lms.jobs.models import Job, JobEvent, JobStatus, QueueAlert
from lms.jobs.queues import QUEUES
from lms.models import utcnow
from lms.security import Viewer

MAX_HISTORY = 1000
RECENT_FAILURES = 20


def _queues(queue_name: str | None) -> tuple[str, ...]:
    if queue_name is None:
        return QUEUES
    if queue_name not in QUEUES:
        raise ValidationFailed(
            f"unknown queue {queue_name!r}; queues are {', '.join(QUEUES)}",
            code=AdminCode.UNKNOWN_QUEUE,
        )
    return (queue_name,)


def _health_view(queue: str, conditions: list[Condition]) -> dict[str, Any]:
    return {
        "queue_name": queue,
        "status": status_of(conditions),
        "reasons": [
            {"code": c.code, "message": c.message, "severity": c.severity.value} for c in conditions
        ],
    }


def queue_health(
    session: Session,
    viewer: Viewer,
    *,
    queue_name: str | None,
    depths: dict[str, QueueDepth],
    inspection: Inspection | None,
) -> list[dict[str, Any]]:
    """HEALTHY / WARNING / ERROR with the reasons, for one queue or all (admins)."""
    require_operator(viewer)
    queues = _queues(queue_name)
    tuning = admin_settings()
    stats = collect_stats(session, depths, inspection, queues)
    failures = failure_window(session, tuning.failure_rate_window_seconds, queues)
    return [_health_view(q, queue_conditions(stats[q], failures[q], tuning)) for q in queues]


def realtime_stats(
    session: Session,
    viewer: Viewer,
    *,
    depths: dict[str, QueueDepth],
    inspection: Inspection | None,
) -> dict[str, Any]:
    """Depth, consumers and counts of every queue right now (admins)."""
    require_operator(viewer)
    return snapshot_event(collect_stats(session, depths, inspection))


def worker_view(worker: WorkerInfo) -> dict[str, Any]:
    view = asdict(worker)
    view["active_jobs"] = [
        {
            "job_id": job["job_id"],
            "kind": job["kind"],
            "task_id": job["task_id"],
            "started": job["started"],
        }
        for job in worker.active_jobs
    ]
    return view


def job_dashboard(
    session: Session, viewer: Viewer, *, depths: dict[str, QueueDepth], inspection: Inspection
) -> dict[str, Any]:
    """Every queue with counts, rates, durations and health; workers; alerts; failures (admins)."""
    require_operator(viewer)
    tuning = admin_settings()
    stats = collect_stats(session, depths, inspection)
    activity = collect_activity(session)
    failures = failure_window(session, tuning.failure_rate_window_seconds)
    queues, overall = [], HEALTHY
    for name in QUEUES:
        health = _health_view(name, queue_conditions(stats[name], failures[name], tuning))
        overall = worse(overall, health["status"])
        queues.append(
            {
                "queue_name": name,
                "stats": asdict(stats[name]),
                "windows": [
                    {
                        "window_seconds": w.window_seconds,
                        "succeeded": w.succeeded,
                        "failed": w.failed,
                        "throughput_per_minute": w.throughput_per_minute,
                        "failure_rate": w.failure_rate,
                    }
                    for w in activity[name].windows
                ],
                # Ariadne maps `p50DurationSeconds` to `p_50_duration_seconds`.
                "p_50_duration_seconds": activity[name].p50_duration_seconds,
                "p_95_duration_seconds": activity[name].p95_duration_seconds,
                "health": health,
            }
        )
    gone = known_workers.gone_workers(session, inspection)
    online = known_workers.with_heartbeats(session, inspection.workers)
    workers = [worker_view(w) for w in [*online, *gone]]
    if not inspection.answering:
        overall = worse(overall, ERROR)
    elif gone:
        overall = worse(overall, WARNING)
    alerts = [
        alert_view(a)
        for a in session.scalars(
            select(QueueAlert)
            .where(QueueAlert.cleared_at.is_(None))
            .order_by(QueueAlert.raised_at.desc())
            .limit(200)
        )
    ]
    failed = session.scalars(
        select(Job)
        .where(Job.status == JobStatus.FAILED)
        .order_by(Job.finished_at.desc())
        .limit(RECENT_FAILURES)
    ).all()
    return {
        "at": utcnow(),
        "health": overall,
        "queues": queues,
        "workers": workers,
        "workers_answering": inspection.answering,
        "inspection_error": inspection.error,
        "alerts": alerts,
        "recent_failures": list(failed),
    }


def job_event_history(
    session: Session, viewer: Viewer, *, queue_name: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The latest job events, newest first, of one queue or all (admins)."""
    require_operator(viewer)
    queues = _queues(queue_name)
    limit = 100 if limit is None else limit
    if not 1 <= limit <= MAX_HISTORY:
        raise ValidationFailed(f"limit must be between 1 and {MAX_HISTORY}", code="BAD_USER_INPUT")
    query = select(JobEvent, Job).join(Job, Job.id == JobEvent.job_id)
    if queue_name is not None:
        query = query.where(Job.queue.in_(queues))
    rows = session.execute(query.order_by(JobEvent.id.desc()).limit(limit)).all()
    return [
        {
            "job_id": job.id,
            "kind": job.kind,
            "queue_name": job.queue,
            "status": event.status.value,
            "attempt": event.attempt,
            "progress": event.progress,
            "message": event.message,
            "error_code": event.error_code,
            "worker": event.worker,
            "subject_type": job.subject_type,
            "subject_id": job.subject_id,
            "at": event.created_at,
        }
        for event, job in rows
    ]
