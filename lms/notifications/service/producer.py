"""Creating notifications: one recipient in the producer's transaction, or a fan-out job.

Producers state the type; this module decides the channels from each recipient's choices.
Every notification carries an idempotency key from its source event, unique per user, so a
producer that retries (or a fan-out job run twice) never makes a second one.

Wired producers: video ready/failed (COURSE_UPDATE, pipelines/video_ingest.py), certificate
issued (CERTIFICATE_ISSUED), enrollment confirmed (ENROLLMENT), grade posted (GRADE_POSTED,
assessments), reply and mention (REPLY, MENTION, forums), new message (NEW_MESSAGE),
announcement published (ANNOUNCEMENT, a fan-out), assignment due soon (ASSIGNMENT_DUE, a
scheduled job), payment receipt (SYSTEM, HIGH, `lms/payments/receipts.py`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lms.errors import ValidationFailed
from lms.jobs.service import enqueue
from lms.models import new_id, utcnow
from lms.notifications import events
from lms.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationType,
    Priority,
    PushSubscription,
)
from lms.notifications.service import batch_postgres
from lms.notifications.service.outgoing import (
    EMAIL_JOB,
    PUSH_JOB,
    assign_jobs,
    common_payload,
    leaves_now,
    plan,
    received_payloads,
)
from lms.notifications.service.preferences import choices_for, parse_type
from lms.notifications.service.sql import among
from lms.notifications.settings import notifications_settings
from lms.users import service as users

__all__ = [
    "EMAIL_JOB",
    "FANOUT_JOB",
    "PUSH_JOB",
    "Spec",
    "create_batch",
    "fanout_batches",
    "notify",
    "notify_many",
]

FANOUT_JOB = "notifications.fanout"
# Below this many recipients per batch, a second connection costs more than it saves.
PARALLEL_MIN_BATCH = 1000


@dataclass
class Spec:
    """What a producer says: the type, the words, where it leads, its source event's key."""

    type: str
    title: str
    key: str
    body: str = ""
    priority: str = "NORMAL"
    link: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expires_in_days: int | None = None
    # A template of lms/templates/email and its context, for a richer email than the default.
    email_template: str | None = None
    email_context: dict[str, Any] | None = None


def _check(spec: Spec) -> tuple[NotificationType, Priority]:
    kind = parse_type(spec.type)
    try:
        priority = Priority(spec.priority)
    except ValueError:
        raise ValidationFailed(
            f"unknown priority {spec.priority!r}", code="BAD_USER_INPUT", field="priority"
        ) from None
    if not spec.key or len(spec.key) > 200:
        raise ValidationFailed("an idempotency key of 1 to 200 characters is required")
    if not spec.title.strip():
        raise ValidationFailed("a notification needs a title")
    return kind, priority


def notify(
    session: Session,
    *,
    user_id: uuid.UUID,
    type: str,
    title: str,
    key: str,
    body: str = "",
    priority: str = "NORMAL",
    link: str | None = None,
    data: dict[str, Any] | None = None,
    expires_in_days: int | None = None,
    email_template: str | None = None,
    email_context: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Notify one user in the caller's transaction; the same `key` again is a no-op.

    Returns the notification's id (the existing one for a repeated key)."""
    spec = Spec(
        type=type,
        title=title,
        key=key,
        body=body,
        priority=priority,
        link=link,
        data=data or {},
        expires_in_days=expires_in_days,
        email_template=email_template,
        email_context=email_context,
    )
    create_batch(session, [user_id], spec)
    return session.scalar(
        select(Notification.id).where(
            Notification.user_id == user_id, Notification.idempotency_key == key
        )
    )


def notify_many(session: Session, *, user_ids: Sequence[uuid.UUID], **spec: Any) -> uuid.UUID:
    """Notify many users (an announcement to a course): one fan-out job, recorded in the
    caller's transaction, inserts the notifications in batches. Returns the job's id."""
    checked = Spec(**spec)
    _check(checked)
    job = enqueue(
        session,
        FANOUT_JOB,
        {"user_ids": [str(u) for u in user_ids], "spec": asdict(checked)},
        subject=("notification", checked.key),
    )
    return job.id


def fanout_batches(user_ids: Sequence[uuid.UUID], size: int, connections: int) -> list[list]:
    """A fan-out's recipients in batches of at most `size`, in order. A fan-out with enough
    recipients is split into at least `connections` batches, so that they are stored at
    once: a batch's statements keep one database core busy, and a database has more."""
    count = len(user_ids)
    if not count:
        return []
    parts = max(math.ceil(count / size), min(connections, count // PARALLEL_MIN_BATCH), 1)
    step = math.ceil(count / parts)
    return [list(user_ids[start : start + step]) for start in range(0, count, step)]


def _insert(session: Session, table, rows: list[dict[str, Any]], returning=None):
    """INSERT … ON CONFLICT DO NOTHING of many rows in one statement (SQLite)."""
    statement = sqlite.insert(table).on_conflict_do_nothing()
    if returning is not None:
        return session.execute(statement.returning(*returning), rows).all()
    session.execute(statement, rows)
    return []


def _push_users(session: Session, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(
        session.scalars(
            select(PushSubscription.user_id)
            .where(among(session, PushSubscription.user_id, user_ids))
            .distinct()
        )
    )


def create_batch(session: Session, user_ids: Sequence[uuid.UUID], spec: Spec) -> int:
    """Insert one notification per user (skipping keys already there), their deliveries, and
    the jobs that send what may leave now. Returns how many notifications were new.

    On PostgreSQL one set-wise statement per batch (`batch_postgres`); elsewhere (SQLite,
    the embedded default) preferences are read per batch and decided here."""
    kind, priority = _check(spec)
    data = spec_data(spec)
    if session.get_bind().dialect.name == "postgresql":
        return batch_postgres.create_batch(session, user_ids, spec, kind, priority, data)
    settings = notifications_settings()
    now = utcnow()
    ids = list(dict.fromkeys(user_ids))
    choices = choices_for(session, ids)
    urgent = priority == Priority.URGENT
    expires = now + timedelta(days=spec.expires_in_days or settings.retention_days)
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "type": kind,
            "priority": priority,
            "title": spec.title[:200],
            "body": spec.body,
            "link": spec.link,
            "data": data,
            "idempotency_key": spec.key,
            "in_app": choices[user_id].wants(kind, NotificationChannel.IN_APP)
            or (urgent and choices[user_id].urgent_passes(kind)),
            "created_at": now,
            "expires_at": expires,
        }
        for user_id in ids
    ]
    inserted = _insert(
        session, Notification.__table__, rows, returning=(Notification.id, Notification.user_id)
    )
    if not inserted:
        return 0
    new = {row.id for row in inserted}
    created = [row for row in rows if row["id"] in new]
    tz = {
        u: c["timezone"]
        for u, c in users.contacts(session, [r["user_id"] for r in created]).items()
    }
    pushers = _push_users(session, [r["user_id"] for r in created])
    deliveries = []
    for row in created:
        user_id = row["user_id"]
        c = choices[user_id]
        channels = [NotificationChannel.EMAIL]
        if user_id in pushers:
            channels.append(NotificationChannel.PUSH)
        for channel in channels:
            status, digest, not_before = plan(
                channel,
                priority,
                wanted=c.wants(kind, channel),
                urgent_passes=c.urgent_passes(kind),
                digest=c.digest.get(kind),
                quiet=c.quiet,
                tz=tz.get(user_id),
                now=now,
            )
            deliveries.append(
                {
                    "id": new_id(),
                    "notification_id": row["id"],
                    "user_id": user_id,
                    "channel": channel,
                    "status": status,
                    "digest": digest,
                    "not_before": not_before,
                    "job_id": None,
                    "attempts": 0,
                    "error_code": "PREFERENCE" if status == DeliveryStatus.SKIPPED else None,
                    "created_at": now,
                }
            )
    leaving = [d for d in deliveries if leaves_now(d["status"], d["not_before"])]
    jobs = assign_jobs(session, [d["channel"] for d in leaving], settings.delivery_batch)
    for d, job_id in zip(leaving, jobs, strict=True):
        d["job_id"] = job_id
    if deliveries:
        _insert(session, NotificationDelivery.__table__, deliveries)
    shown = [row for row in created if row["in_app"]]
    counts = unread_counts(session, [row["user_id"] for row in shown])
    common = common_payload(
        kind, priority, rows[0]["title"], spec.body, spec.link, data, now, expires
    )
    received = [(row["id"], row["user_id"], counts[row["user_id"]]) for row in shown]
    events.received(session, received_payloads(common, received))
    return len(created)


def spec_data(spec: Spec) -> dict[str, Any]:
    """The notification's `data`, with a richer email's template and context in it."""
    data = dict(spec.data)
    if spec.email_template:
        data["emailTemplate"] = spec.email_template
        data["emailContext"] = spec.email_context or {}
    return data


def unread_counts(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not user_ids:
        return {}
    counts = dict.fromkeys(user_ids, 0)
    now = utcnow()
    rows = session.execute(
        select(Notification.user_id, func.count())
        .where(
            among(session, Notification.user_id, user_ids),
            Notification.read_at.is_(None),
            Notification.in_app.is_(True),
            (Notification.expires_at.is_(None)) | (Notification.expires_at > now),
        )
        .group_by(Notification.user_id)
    )
    counts.update({user_id: count for user_id, count in rows})
    return counts
