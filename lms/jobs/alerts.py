"""The operator alert raised when a job fails as `WORKER_LOST` (a poison message).

Stored like the scheduled rules' alerts (`lms.admin.alerts`): one open alert per queue,
rule and job kind, refreshed rather than duplicated, published on the `admin.alert` topic.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from lms.config import Settings
from lms.db import session_scope
from lms.events.bus import publish_event
from lms.events.topics import ALERT
from lms.models import utcnow

log = logging.getLogger(__name__)
RULE = "JOB_WORKER_LOST"


def worker_lost_alert(job, settings: Settings) -> None:
    """Raise (or refresh) the alert for `job`'s kind; never fails the caller."""
    from lms.admin.alerts import alert_view
    from lms.admin.models import AlertSeverity, QueueAlert

    try:
        with session_scope(settings) as session:
            now = utcnow()
            message = (
                f"job {job.id} ({job.kind}) failed after {job.attempts} attempt(s) "
                "whose worker died: a poison message?"
            )[:500]
            alert = session.scalars(
                select(QueueAlert).where(
                    QueueAlert.queue == job.queue,
                    QueueAlert.rule == RULE,
                    QueueAlert.target == job.kind,
                    QueueAlert.cleared_at.is_(None),
                )
            ).first()
            if alert is None:
                alert = QueueAlert(
                    id=uuid.uuid4(),
                    queue=job.queue,
                    rule=RULE,
                    target=job.kind,
                    severity=AlertSeverity.CRITICAL,
                    message=message,
                    value=float(job.attempts),
                    threshold=float(job.max_attempts),
                    raised_at=now,
                    last_seen_at=now,
                    details={"job_id": str(job.id)},
                )
                session.add(alert)
            else:
                alert.message, alert.last_seen_at, alert.resolved_at = message, now, None
                alert.details = {**(alert.details or {}), "job_id": str(job.id)}
            session.flush()
            view = alert_view(alert)
        publish_event(ALERT, view, settings)
    except Exception:  # noqa: BLE001 - the job's FAILED row is the record; the alert is extra
        log.exception("could not raise the WORKER_LOST alert for job %s", job.id)
