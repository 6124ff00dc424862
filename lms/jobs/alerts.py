"""Queue alerts as the operators see them, and the one the job machinery raises itself: a
job that fails as `WORKER_LOST` (a poison message).

That alert is stored like the scheduled rules' alerts (`lms.admin.alerts`), in the same
table: one open alert per queue, rule and job kind, refreshed rather than duplicated,
published on the `admin.alert` topic in the shape `alert_view` gives.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from lms.config import Settings
from lms.db import session_scope
from lms.events.bus import publish_event
from lms.events.topics import ALERT
from lms.jobs.models import AlertSeverity, QueueAlert
from lms.models import utcnow

log = logging.getLogger(__name__)
RULE = "JOB_WORKER_LOST"


def alert_view(alert: QueueAlert) -> dict[str, Any]:
    """The GraphQL/bus shape of an alert (JSON-able, camelCase: the `admin.alert` topic)."""
    return {
        "id": str(alert.id),
        "queueName": alert.queue,
        "rule": alert.rule,
        "target": alert.target or None,
        "severity": alert.severity.value,
        "message": alert.message,
        "value": alert.value,
        "threshold": alert.threshold,
        "raisedAt": alert.raised_at.isoformat(),
        "lastSeenAt": alert.last_seen_at.isoformat(),
        "resolvedAt": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "clearedAt": alert.cleared_at.isoformat() if alert.cleared_at else None,
    }


def worker_lost_alert(job, settings: Settings) -> None:
    """Raise (or refresh) the alert for `job`'s kind; never fails the caller."""
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
