"""Creating notifications: one recipient in the producer's transaction, or a fan-out job.

Producers state the type; this module decides the channels from each recipient's choices.
Every notification carries an idempotency key from its source event, unique per user, so a
producer that retries (or a fan-out job run twice) never makes a second one.

Wired: video ready/failed (COURSE_UPDATE, pipelines/video_ingest.py), certificate issued
(CERTIFICATE_ISSUED), enrollment confirmed (ENROLLMENT). For modules still to come:

    grade posted        notify(type="GRADE_POSTED", key=f"grade:{grade.id}", ...)
    reply to a thread   notify(type="REPLY", key=f"post:{post.id}", ...)
    new message         notify(type="NEW_MESSAGE", key=f"message:{message.id}", ...)
    mention             notify(type="MENTION", key=f"mention:{post.id}", ...)
    announcement        notify_many(user_ids=students, type="ANNOUNCEMENT",
                        key=f"announcement:{a.id}")
    assignment due soon notify_many(type="ASSIGNMENT_DUE", key=f"due:{assignment.id}:24h"), from a
                        scheduled job of the assessments module
    payment receipt     notify(type="SYSTEM", priority="HIGH", key=f"payment:{payment.id}",
                        email_template="payment_receipt", email_context=...)
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lms.errors import ValidationFailed
from lms.jobs.service import enqueue
from lms.models import new_id, utcnow
from lms.notifications import events
from lms.notifications.models import (
    DeliveryStatus,
    DigestFrequency,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationType,
    Priority,
    PushSubscription,
)
from lms.notifications.service.preferences import Choices, choices_for, parse_type
from lms.notifications.service.schedule import digest_due, quiet_until
from lms.notifications.service.sql import among
from lms.notifications.settings import notifications_settings
from lms.users import service as users

EMAIL_JOB = "email.notifications"  # on the `email` queue, beside the other emails
PUSH_JOB = "notifications.push"
FANOUT_JOB = "notifications.fanout"


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
    created = _create(session, [user_id], spec)
    if created:  # the usual case: its id is known, no read back
        return created[0]["id"]
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


def _insert(session: Session, table, rows: list[dict[str, Any]], returning=None):
    """INSERT … ON CONFLICT DO NOTHING of many rows in one statement."""
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnest(session, table, rows, returning)
    statement = sqlite.insert(table).on_conflict_do_nothing()
    if returning is not None:
        return session.execute(statement.returning(*returning), rows).all()
    session.execute(statement, rows)
    return []


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _insert_unnest(session: Session, table, rows: list[dict[str, Any]], returning):
    """PostgreSQL: one array per column through `unnest`, so the statement stays small
    (a multi-row VALUES of thousands of rows costs more to build and parse than to run)."""
    dialect = session.get_bind().dialect
    names = list(rows[0])
    casts = ", ".join(f"CAST(u.{n} AS {table.c[n].type.compile(dialect=dialect)})" for n in names)
    arrays = ", ".join(f"CAST(:{n} AS TEXT[])" for n in names)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {casts} "
        f"FROM unnest({arrays}) AS u({', '.join(names)}) ON CONFLICT DO NOTHING"
    )
    if returning is not None:
        sql += " RETURNING " + ", ".join(column.name for column in returning)
    params = {n: [_text(row[n]) for row in rows] for n in names}
    result = session.execute(text(sql), params)
    return result.all() if returning is not None else []


def _push_users(session: Session, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(
        session.scalars(
            select(PushSubscription.user_id)
            .where(among(session, PushSubscription.user_id, user_ids))
            .distinct()
        )
    )


def _plan(
    channel: NotificationChannel,
    kind: NotificationType,
    priority: Priority,
    choices: Choices,
    tz: str | None,
    now: datetime,
) -> tuple[DeliveryStatus, DigestFrequency | None, datetime | None]:
    """Status, digest and earliest departure of one outgoing delivery."""
    urgent = priority == Priority.URGENT
    if not (choices.wants(kind, channel) or (urgent and choices.urgent_passes(kind))):
        return DeliveryStatus.SKIPPED, None, None
    if urgent:  # URGENT skips digests and quiet hours
        return DeliveryStatus.QUEUED, None, None
    digest = choices.digest.get(kind) if channel == NotificationChannel.EMAIL else None
    digest = None if digest == DigestFrequency.INSTANT else digest
    moments = [m for m in (digest_due(now, digest, tz) if digest else None,) if m]
    quiet = quiet_until(now, choices.quiet, tz)
    if quiet:
        moments.append(quiet)
    return DeliveryStatus.QUEUED, digest, max(moments) if moments else None


def create_batch(session: Session, user_ids: Sequence[uuid.UUID], spec: Spec) -> int:
    """Insert one notification per user (skipping keys already there), their deliveries, and
    the jobs that send what may leave now. Returns how many notifications were new."""
    return len(_create(session, user_ids, spec))


def _create(session: Session, user_ids: Sequence[uuid.UUID], spec: Spec) -> list[dict[str, Any]]:
    """`create_batch`, returning the rows of the notifications that were new."""
    kind, priority = _check(spec)
    settings = notifications_settings()
    now = utcnow()
    ids = list(dict.fromkeys(user_ids))
    choices = choices_for(session, ids)
    urgent = priority == Priority.URGENT
    expires = now + timedelta(days=spec.expires_in_days or settings.retention_days)
    data = dict(spec.data)
    if spec.email_template:
        data["emailTemplate"] = spec.email_template
        data["emailContext"] = spec.email_context or {}
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
        return []
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
        channels = [NotificationChannel.EMAIL]
        if user_id in pushers:
            channels.append(NotificationChannel.PUSH)
        for channel in channels:
            status, digest, not_before = _plan(
                channel, kind, priority, choices[user_id], tz.get(user_id), now
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
    _assign_jobs(session, [d for d in deliveries if _leaves_now(d)], settings.delivery_batch)
    if deliveries:
        _insert(session, NotificationDelivery.__table__, deliveries)
    shown = [row for row in created if row["in_app"]]
    # One event per recipient: it carries the new unread count (`unreadCountChanged` hears it).
    counts = unread_counts(session, [row["user_id"] for row in shown])
    events.received(session, [_payload(row, counts[row["user_id"]]) for row in shown])
    return created


def _leaves_now(delivery: dict[str, Any]) -> bool:
    return delivery["status"] == DeliveryStatus.QUEUED and delivery["not_before"] is None


def _assign_jobs(session: Session, deliveries: list[dict[str, Any]], batch: int) -> None:
    """Batched sending jobs (ids only), recorded in this transaction: the outbox."""
    for channel, kind in (
        (NotificationChannel.EMAIL, EMAIL_JOB),
        (NotificationChannel.PUSH, PUSH_JOB),
    ):
        mine = [d for d in deliveries if d["channel"] == channel]
        for start in range(0, len(mine), batch):
            chunk = mine[start : start + batch]
            job = enqueue(session, kind, {"delivery_ids": [str(d["id"]) for d in chunk]})
            for d in chunk:
                d["job_id"] = job.id


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


def _payload(row: dict[str, Any], unread: int) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "userId": str(row["user_id"]),
        "type": row["type"].value,
        "priority": row["priority"].value,
        "title": row["title"],
        "body": row["body"],
        "link": row["link"],
        "data": {k: v for k, v in row["data"].items() if not k.startswith("email")},
        "createdAt": row["created_at"].isoformat(),
        "readAt": None,
        "expiresAt": row["expires_at"].isoformat(),
        "unreadCount": unread,
    }
