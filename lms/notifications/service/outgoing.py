"""What a new notification sends and when, shared by both ways of storing a batch
(portable rows in `producer`, one set-wise statement in `batch_postgres`): the decision per
outgoing channel, the batched sending jobs, the live event's payload."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lms.jobs.fanout import enqueue_many
from lms.notifications.models import DeliveryStatus, DigestFrequency, NotificationChannel, Priority
from lms.notifications.service.schedule import digest_due, quiet_until

EMAIL_JOB = "email.notifications"  # on the `email` queue, beside the other emails
PUSH_JOB = "notifications.push"

Plan = tuple[DeliveryStatus, DigestFrequency | None, datetime | None]


def plan(
    channel: NotificationChannel,
    priority: Priority,
    *,
    wanted: bool,
    urgent_passes: bool,
    digest: DigestFrequency | None,
    quiet: tuple[int, int] | None,
    tz: str | None,
    now: datetime,
) -> Plan:
    """Status, digest and earliest departure of one outgoing delivery."""
    urgent = priority == Priority.URGENT
    if not (wanted or (urgent and urgent_passes)):
        return DeliveryStatus.SKIPPED, None, None
    if urgent:  # URGENT skips digests and quiet hours
        return DeliveryStatus.QUEUED, None, None
    digest = digest if channel == NotificationChannel.EMAIL else None
    digest = None if digest == DigestFrequency.INSTANT else digest
    moments = [m for m in (digest_due(now, digest, tz) if digest else None,) if m]
    quiet_end = quiet_until(now, quiet, tz)
    if quiet_end:
        moments.append(quiet_end)
    return DeliveryStatus.QUEUED, digest, max(moments) if moments else None


def leaves_now(status: DeliveryStatus, not_before: datetime | None) -> bool:
    return status == DeliveryStatus.QUEUED and not_before is None


JOB_KINDS = {NotificationChannel.EMAIL: EMAIL_JOB, NotificationChannel.PUSH: PUSH_JOB}


def sending_jobs(
    session: Session, channel: NotificationChannel, count: int, batch: int
) -> list[uuid.UUID]:
    """The jobs that send `count` deliveries of `channel`, `batch` to a job, recorded in this
    transaction (the outbox: one INSERT, one confirmed publish burst after commit). A job
    sends the deliveries that name it (`job_id`); its payload only says how many."""
    sizes = [min(batch, count - start) for start in range(0, count, batch)]
    return enqueue_many(session, JOB_KINDS[channel], [{"deliveries": n} for n in sizes])


def assign_jobs(
    session: Session, leaving: list[NotificationChannel], batch: int
) -> list[uuid.UUID]:
    """Each delivery's sending job, in the given order, for deliveries (their channels)
    that leave now."""
    job_of: list[Any] = [None] * len(leaving)
    for channel in JOB_KINDS:
        mine = [i for i, c in enumerate(leaving) if c == channel]
        jobs = sending_jobs(session, channel, len(mine), batch)
        for place, i in enumerate(mine):
            job_of[i] = jobs[place // batch]
    return job_of


def received_payloads(
    common: dict[str, Any], shown: list[tuple[uuid.UUID | str, uuid.UUID | str, int]]
) -> list[dict[str, Any]]:
    """`notificationReceived` events of one batch: what all share, plus per recipient the
    notification's id, the user and their new unread count (`unreadCountChanged` hears it)."""
    return [
        {**common, "id": str(i), "userId": str(u), "unreadCount": unread} for i, u, unread in shown
    ]


def common_payload(
    kind, priority, title, body, link, data, created_at, expires_at
) -> dict[str, Any]:
    return {
        "type": kind.value,
        "priority": priority.value,
        "title": title,
        "body": body,
        "link": link,
        "data": {k: v for k, v in data.items() if not k.startswith("email")},
        "createdAt": created_at.isoformat(),
        "readAt": None,
        "expiresAt": expires_at.isoformat(),
    }
