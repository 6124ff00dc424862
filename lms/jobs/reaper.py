"""The reaper: jobs whose lease expired are retried or, at their limit, failed.

A lease expires when its worker is gone (killed, lost its connection) or when the attempt's
final write never landed; either way nothing else would ever move the job on. Run by the
scheduler (`lms beat`), in its own process, so no paused or flooded queue can starve it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from lms.config import Settings, get_settings
from lms.jobs import lifecycle
from lms.jobs.engine import job_engine
from lms.jobs.models import Job, JobStatus
from lms.jobs.service import Outgoing, publish_jobs
from lms.jobs.settings import job_settings
from lms.jobs.states import retrying_db, transition
from lms.models import utcnow

log = logging.getLogger(__name__)


def reap_expired(settings: Settings | None = None, *, limit: int = 500) -> dict[str, int]:
    """Requeue (and republish) or fail every job whose lease expired; counts of each."""
    settings = settings or get_settings()
    now = utcnow()
    query = (
        select(Job.id, Job.kind, Job.queue, Job.attempts, Job.max_attempts)
        .where(
            Job.status.in_((JobStatus.RUNNING, JobStatus.RETRYING)),
            Job.lease_expires_at.is_not(None),
            Job.lease_expires_at < now,
        )
        .order_by(Job.lease_expires_at)
        .limit(limit)
    )

    def read():
        with job_engine(settings).connect() as connection:
            return connection.execute(query).all()

    counts = {"requeued": 0, "failed": 0}
    requeued: list[Outgoing] = []
    for row in retrying_db(read, "reaper scan"):
        if row.attempts >= row.max_attempts:
            counts["failed"] += lifecycle.lose(row.id, row.attempts, settings=settings) is not None
            continue
        claim = utcnow() + timedelta(seconds=job_settings().publish_claim_seconds)
        # Guarded by status, attempt and expiry: a renewal or a second reaper wins cleanly.
        again = transition(
            "requeue",
            row.id,
            message=f"lease of attempt {row.attempts} expired; queued again",
            settings=settings,
            attempt=row.attempts,
            status=JobStatus.QUEUED,
            progress_message="worker lost; queued again",
            published_at=None,
            publish_claimed_until=claim,
            lease_expires_at=None,
        )
        if again is not None:
            requeued.append(Outgoing(row.id, row.kind, row.queue, settings, claim))
    if requeued:
        publish_jobs(requeued, settings)
        counts["requeued"] = len(requeued)
    if counts["requeued"] or counts["failed"]:
        log.warning(
            "reaper: %d job(s) queued again, %d failed as WORKER_LOST",
            counts["requeued"],
            counts["failed"],
        )
    return counts
