"""Workers seen by inspections, kept in the database so a vanished one is reported gone
(even after the API restarts) instead of silently dropping off the list."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.admin.inspection import Inspection, WorkerInfo
from lms.admin.models import KnownWorker
from lms.admin.settings import AdminSettings
from lms.models import utcnow


def remember(session: Session, inspection: Inspection, tuning: AdminSettings) -> list[KnownWorker]:
    """Record answering workers; forget long-silent ones; return the known but silent ones."""
    now = utcnow()
    known = {w.hostname: w for w in session.scalars(select(KnownWorker))}
    for info in inspection.workers:
        row = known.get(info.hostname)
        if row is None:
            row = known[info.hostname] = KnownWorker(hostname=info.hostname, first_seen_at=now)
            session.add(row)
        row.queues = info.queues
        row.last_seen_at = now
    cutoff = now - timedelta(seconds=tuning.forget_worker_after_seconds)
    session.execute(delete(KnownWorker).where(KnownWorker.last_seen_at < cutoff))
    answering = {w.hostname for w in inspection.workers}
    return [
        row for name, row in known.items() if name not in answering and row.last_seen_at >= cutoff
    ]


def heartbeat(session: Session, hostname: str, queues: list[str]) -> None:
    """A worker process reports in (tasks/heartbeat.py): its row, with the time, now."""
    now = utcnow()
    row = session.get(KnownWorker, hostname)
    if row is None:
        row = KnownWorker(hostname=hostname, queues=queues, first_seen_at=now, last_seen_at=now)
        session.add(row)
    row.heartbeat_at = now


def with_heartbeats(session: Session, workers: list[WorkerInfo]) -> list[WorkerInfo]:
    """`workers` with each one's own last heartbeat filled in."""
    names = [w.hostname for w in workers]
    beats = dict(
        session.execute(
            select(KnownWorker.hostname, KnownWorker.heartbeat_at).where(
                KnownWorker.hostname.in_(names)
            )
        ).all()
    )
    return [replace(w, heartbeat_at=beats.get(w.hostname)) for w in workers]


def gone_workers(session: Session, inspection: Inspection) -> list[WorkerInfo]:
    """Known workers that did not answer this inspection, as GONE entries."""
    answering = {w.hostname for w in inspection.workers}
    return [
        WorkerInfo(
            hostname=row.hostname,
            state="GONE",
            queues=list(row.queues or []),
            last_seen_at=row.last_seen_at,
            heartbeat_at=row.heartbeat_at,
        )
        for row in session.scalars(select(KnownWorker).order_by(KnownWorker.hostname))
        if row.hostname not in answering
    ]


def forget(session: Session, hostnames: list[str]) -> int:
    if not hostnames:
        return 0
    return (
        session.execute(delete(KnownWorker).where(KnownWorker.hostname.in_(hostnames))).rowcount
        or 0
    )
