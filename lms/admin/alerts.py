"""Alerts: the health rules evaluated on a schedule, stored until an operator clears them.

One open alert per (queue, rule, target): while its condition holds it is refreshed, not
duplicated; a condition that gets worse raises its severity and is published again; one
that stops holding is marked resolved but stays open until cleared, so nobody misses it.
New and escalated alerts go out on the `admin.alert` bus topic (the `jobAlerts` subscription).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import audit
from lms.admin import workers as known_workers
from lms.admin.access import require_control, require_operator
from lms.admin.broker_stats import queue_depths
from lms.admin.errors import AdminCode
from lms.admin.inspection import Inspection, inspect_workers
from lms.admin.rules import Condition, queue_conditions
from lms.admin.settings import AdminSettings, admin_settings
from lms.admin.stats import collect_stats, failure_window
from lms.config import Settings, get_settings
from lms.db import session_scope
from lms.errors import ValidationFailed
from lms.events.bus import publish_event
from lms.events.topics import ALERT
from lms.jobs.alerts import alert_view
from lms.jobs.models import AlertSeverity, QueueAlert
from lms.jobs.queues import QUEUES
from lms.jobs.service import after_commit
from lms.models import utcnow
from lms.security import Viewer


def system_conditions(
    session: Session, inspection: Inspection, tuning: AdminSettings
) -> list[Condition]:
    """Worker rules: a worker seen before that does not answer now is gone."""
    if (
        inspection.error
        and inspection.answering is False
        and not inspection.error.startswith("no worker")
    ):
        return []  # the broker is down: we cannot tell who is alive
    silent = known_workers.remember(session, inspection, tuning)
    return [
        Condition(
            "WORKER_GONE",
            AlertSeverity.CRITICAL,
            f"worker {row.hostname} (queues {', '.join(row.queues or []) or '-'}) "
            "stopped answering; "
            f"last seen {row.last_seen_at.isoformat(timespec='seconds')}",
            None,
            target=row.hostname,
        )
        for row in silent
    ]


def evaluate(
    settings: Settings | None = None, tuning: AdminSettings | None = None
) -> list[dict[str, Any]]:
    """Run every rule now; store new alerts and publish them. Returns the published alerts."""
    settings = settings or get_settings()
    tuning = tuning or admin_settings()
    inspection = inspect_workers(settings, fresh=True)
    depths = queue_depths(QUEUES, settings)
    with session_scope(settings) as session:
        stats = collect_stats(session, depths, inspection)
        failures = failure_window(session, tuning.failure_rate_window_seconds)
        conditions = [
            c for name in QUEUES for c in queue_conditions(stats[name], failures[name], tuning)
        ]
        conditions += system_conditions(session, inspection, tuning)
        return apply_conditions(session, [c for c in conditions if c.alert], settings)


def apply_conditions(
    session: Session, conditions: list[Condition], settings: Settings
) -> list[dict[str, Any]]:
    now = utcnow()
    open_alerts = {
        (a.queue, a.rule, a.target): a
        for a in session.scalars(select(QueueAlert).where(QueueAlert.cleared_at.is_(None)))
    }
    published: list[dict[str, Any]] = []
    holding = set()
    for condition in conditions:
        key = (condition.queue, condition.code, condition.target)
        holding.add(key)
        alert = open_alerts.get(key)
        if alert is None:
            alert = QueueAlert(
                id=uuid.uuid4(),
                queue=condition.queue,
                rule=condition.code,
                target=condition.target,
                severity=condition.severity,
                message=condition.message[:500],
                value=condition.value,
                threshold=condition.threshold,
                raised_at=now,
                last_seen_at=now,
                details={},
            )
            session.add(alert)
            published.append(alert_view(alert))
            continue
        escalated = condition.severity.rank > alert.severity.rank or alert.resolved_at is not None
        alert.severity = (
            condition.severity if condition.severity.rank > alert.severity.rank else alert.severity
        )
        alert.message, alert.value, alert.threshold = (
            condition.message[:500],
            condition.value,
            condition.threshold,
        )
        alert.last_seen_at, alert.resolved_at = now, None
        if escalated:
            published.append(alert_view(alert))
    for key, alert in open_alerts.items():
        if key not in holding and alert.resolved_at is None:
            alert.resolved_at = now
    if published:
        after_commit(session, lambda: [publish_event(ALERT, view, settings) for view in published])
    return published


def open_alerts(
    session: Session, viewer: Viewer, *, queue_name: str | None = None
) -> list[dict[str, Any]]:
    """Alerts not yet cleared, newest first (admins)."""
    require_operator(viewer)
    query = select(QueueAlert).where(QueueAlert.cleared_at.is_(None))
    if queue_name is not None:
        query = query.where(QueueAlert.queue == queue_name)
    return [
        alert_view(a)
        for a in session.scalars(query.order_by(QueueAlert.raised_at.desc()).limit(500))
    ]


def clear_alerts(
    session: Session, viewer: Viewer, *, queue_name: str | None = None
) -> list[dict[str, Any]]:
    """Clear the open alerts of a queue, or every open alert (admins). Cleared system alerts
    about gone workers also forget those workers: the operator has acknowledged them."""
    actor = require_control(viewer)
    if queue_name is not None and queue_name not in QUEUES:
        raise ValidationFailed(f"unknown queue {queue_name!r}", code=AdminCode.UNKNOWN_QUEUE)
    query = select(QueueAlert).where(QueueAlert.cleared_at.is_(None))
    if queue_name is not None:
        query = query.where(QueueAlert.queue == queue_name)
    now = utcnow()
    cleared = list(session.scalars(query))
    for alert in cleared:
        alert.cleared_at, alert.cleared_by_id = now, actor
    known_workers.forget(session, [a.target for a in cleared if a.rule == "WORKER_GONE"])
    audit.record(
        session,
        actor_id=actor,
        action="admin.alerts.clear",
        subject=("queue", queue_name or "*"),
        details={"cleared": len(cleared), "rules": sorted({a.rule for a in cleared})},
    )
    return [alert_view(a) for a in cleared]


def severity_at_least(alert: dict[str, Any], severity: str | None) -> bool:
    return severity is None or AlertSeverity(alert["severity"]).rank >= AlertSeverity(severity).rank
