"""The console's jobs table and charts, from the durable history (`jobs` rows): filters,
search by id or subject, pages; throughput, p50/p95 durations and failure rate per bucket."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lms.admin.access import require_operator
from lms.admin.errors import AdminCode
from lms.errors import ValidationFailed
from lms.jobs.models import Job, JobStatus
from lms.jobs.queues import QUEUES
from lms.models import utcnow

MAX_PAGE = 200
MAX_CHART_HOURS = 7 * 24
CHART_ROWS = 100_000  # a chart reads at most this many finished jobs (newest first)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def search_jobs(
    session: Session,
    viewer,
    *,
    filter: dict[str, Any] | None = None,
    offset: int | None = 0,
    limit: int | None = 50,
) -> dict[str, Any]:
    """A page of jobs, newest first, matching every filter given (admins and operators)."""
    require_operator(viewer)
    f = filter or {}
    offset, limit = offset or 0, 50 if limit is None else limit  # explicit nulls: defaults
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(
            f"limit must be 1..{MAX_PAGE} and offset at least 0", code="BAD_USER_INPUT"
        )
    since, until = f.get("created_after"), f.get("created_before")
    if since and until and since > until:
        raise ValidationFailed(
            "createdAfter is later than createdBefore", code=AdminCode.INVALID_DATE_RANGE
        )
    conditions = []
    if f.get("queue_name"):
        if f["queue_name"] not in QUEUES:
            raise ValidationFailed(
                f"unknown queue {f['queue_name']!r}", code=AdminCode.UNKNOWN_QUEUE
            )
        conditions.append(Job.queue == f["queue_name"])
    if f.get("kind"):
        conditions.append(Job.kind == f["kind"])
    if f.get("status"):
        conditions.append(Job.status == JobStatus(f["status"]))
    if f.get("error_code"):
        conditions.append(Job.error_code == f["error_code"])
    if since:
        conditions.append(Job.created_at >= since)
    if until:
        conditions.append(Job.created_at <= until)
    text = (f.get("search") or "").strip()
    if text:
        # An id finds the job, its children and jobs about that subject; other text a subject.
        key = _uuid(text)
        if key is not None:
            conditions.append(or_(Job.id == key, Job.parent_id == key, Job.subject_id == str(key)))
        else:
            conditions.append(Job.subject_id.ilike(f"%{_escape(text)}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions))
    rows = session.scalars(
        select(Job)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return {"items": list(rows), "total": total, "offset": offset, "limit": limit}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def children_of(session: Session, viewer, job_id: uuid.UUID) -> list[Job]:
    require_operator(viewer)
    return list(
        session.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.created_at))
    )


def job_history(
    session: Session,
    viewer,
    *,
    queue_name: str | None = None,
    hours: int | None = 6,
    bucket_minutes: int | None = 10,
) -> list[dict[str, Any]]:
    """Finished jobs per time bucket, oldest first: counts, p50/p95 run time, failure rate."""
    require_operator(viewer)
    # An explicit null means the default, as it does for every other optional argument.
    hours = 6 if hours is None else hours
    bucket_minutes = 10 if bucket_minutes is None else bucket_minutes
    if not 1 <= hours <= MAX_CHART_HOURS or not 1 <= bucket_minutes <= 24 * 60:
        raise ValidationFailed(
            f"hours must be 1..{MAX_CHART_HOURS} and bucketMinutes 1..1440", code="BAD_USER_INPUT"
        )
    if queue_name is not None and queue_name not in QUEUES:
        raise ValidationFailed(f"unknown queue {queue_name!r}", code=AdminCode.UNKNOWN_QUEUE)
    now = utcnow()
    step = timedelta(minutes=bucket_minutes)
    start = now - timedelta(hours=hours)
    query = select(Job.finished_at, Job.started_at, Job.status).where(
        Job.finished_at >= start,
        Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED)),
    )
    if queue_name is not None:
        query = query.where(Job.queue == queue_name)
    rows = session.execute(query.order_by(Job.finished_at.desc()).limit(CHART_ROWS)).all()
    count = int((now - start) / step) + 1
    buckets = [{"ok": 0, "failed": 0, "durations": []} for _ in range(count)]
    for finished, started, status in rows:
        bucket = buckets[min(count - 1, int((finished - start) / step))]
        if status == JobStatus.FAILED:
            bucket["failed"] += 1
        else:
            bucket["ok"] += 1
            if started is not None:
                bucket["durations"].append((finished - started).total_seconds())
    return [_point(start + step * i, b, bucket_minutes) for i, b in enumerate(buckets)]


def _point(at: datetime, bucket: dict, minutes: int) -> dict[str, Any]:
    done = bucket["ok"] + bucket["failed"]
    durations = sorted(bucket["durations"])
    return {
        "at": at,
        "succeeded": bucket["ok"],
        "failed": bucket["failed"],
        "throughput_per_minute": done / minutes,
        "failure_rate": bucket["failed"] / done if done else None,
        "p_50_duration_seconds": _quantile(durations, 0.5),
        "p_95_duration_seconds": _quantile(durations, 0.95),
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]
