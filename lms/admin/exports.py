"""Monitoring exports: a job writes the jobs, alerts and per-queue summary of a period as
CSV and JSON to storage (`exports/monitoring/{job_id}/…`, `lms.storage`: a local folder or
S3, so any API host can serve what any worker wrote); admins download them through signed
links (`lms.storage.signing`)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms import audit
from lms.admin.access import require_operator
from lms.admin.errors import AdminCode
from lms.admin.settings import admin_settings
from lms.config import Settings
from lms.errors import ValidationFailed
from lms.jobs.models import Job, QueueAlert
from lms.jobs.service import enqueue
from lms.security import Viewer
from lms.storage import get_storage, guess_type, signing

EXPORT_KIND = "admin.export_monitoring"
MAX_PERIOD = timedelta(days=366)
MAX_ROWS = 200_000
CSV_FIELDS = (
    "id",
    "kind",
    "queue",
    "status",
    "attempts",
    "max_attempts",
    "error_code",
    "error_message",
    "worker",
    "created_at",
    "started_at",
    "finished_at",
    "duration_seconds",
)


def request_export(
    session: Session, viewer: Viewer, *, start_date: datetime, end_date: datetime
) -> Job:
    """Start an export job for [start_date, end_date) (admins)."""
    actor = require_operator(viewer)
    if end_date <= start_date:
        raise ValidationFailed("endDate must be after startDate", code=AdminCode.INVALID_DATE_RANGE)
    if end_date - start_date > MAX_PERIOD:
        raise ValidationFailed("export at most 366 days at once", code=AdminCode.INVALID_DATE_RANGE)
    job = enqueue(
        session,
        EXPORT_KIND,
        {"start": start_date.isoformat(), "end": end_date.isoformat()},
        requested_by_id=actor,
        subject=("monitoring", "export"),
    )
    audit.record(
        session,
        actor_id=actor,
        action="admin.monitoring.export",
        subject=("job", job.id),
        details={"start": start_date.isoformat(), "end": end_date.isoformat()},
    )
    return job


def write_export(
    session: Session, job_id: uuid.UUID, start: datetime, end: datetime, settings: Settings
) -> dict[str, Any]:
    """Write the CSV and JSON files (deterministic keys: a re-run replaces them)."""
    jobs = session.scalars(
        select(Job)
        .where(Job.created_at >= start, Job.created_at < end)
        .order_by(Job.created_at)
        .limit(MAX_ROWS)
    ).all()
    rows = [_job_row(job) for job in jobs]
    summary: dict[str, dict[str, int]] = {}
    for queue, status, count in session.execute(
        select(Job.queue, Job.status, func.count())
        .where(Job.created_at >= start, Job.created_at < end)
        .group_by(Job.queue, Job.status)
    ):
        summary.setdefault(queue, {})[status.value] = count
    alerts = [
        {
            "id": str(a.id),
            "queue": a.queue,
            "rule": a.rule,
            "target": a.target,
            "severity": a.severity.value,
            "message": a.message,
            "raised_at": a.raised_at.isoformat(),
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
        }
        for a in session.scalars(
            select(QueueAlert)
            .where(QueueAlert.raised_at >= start, QueueAlert.raised_at < end)
            .order_by(QueueAlert.raised_at)
        )
    ]
    key = f"exports/monitoring/{job_id}"
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    document = {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "summary": summary,
        "jobs": rows,
        "alerts": alerts,
    }
    storage = get_storage(settings)
    for name, text in (
        ("jobs.csv", table.getvalue()),
        ("monitoring.json", json.dumps(document, indent=1)),
    ):
        storage.put_bytes(f"{key}/{name}", text.encode("utf-8"), content_type=guess_type(name))
    return {
        "files": {"csv": f"{key}/jobs.csv", "json": f"{key}/monitoring.json"},
        "jobs": len(rows),
        "alerts": len(alerts),
    }


def _job_row(job: Job) -> dict[str, Any]:
    duration = (
        (job.finished_at - job.started_at).total_seconds()
        if job.finished_at and job.started_at
        else None
    )
    return {
        "id": str(job.id),
        "kind": job.kind,
        "queue": job.queue,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "worker": job.worker,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "duration_seconds": duration,
    }


def download_links(result: dict[str, Any] | None, settings: Settings) -> list[dict[str, Any]]:
    """Signed, expiring links to a finished export's files."""
    files = (result or {}).get("files") or {}
    links = []
    seconds = admin_settings().export_url_seconds
    for fmt, key in sorted(files.items()):
        name = key.rsplit("/", 1)[-1]
        url, expires_at = signing.file_url(
            key, seconds, name=name, download=True, settings=settings
        )
        # Through the API on either backend (on S3 it redirects to the store).
        path = signing.api_path(key, expires_at, name=name, download=True, settings=settings)
        links.append(
            {
                "format": fmt.upper(),
                "name": name,
                "path": path,
                "url": url,
                "expires_at": expires_at,
            }
        )
    return links
