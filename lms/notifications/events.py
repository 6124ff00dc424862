"""Live notification events, keyed by user id and published only after the change commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lms.events.bus import publish_event
from lms.events.topics import NOTIFICATION_READ, NOTIFICATION_RECEIVED, UNREAD_COUNT
from lms.jobs.service import after_commit
from lms.notifications.models import Notification


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def notification_payload(n: Notification) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "userId": str(n.user_id),
        "type": n.type.value,
        "priority": n.priority.value,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "data": n.data or {},
        "createdAt": _iso(n.created_at),
        "readAt": _iso(n.read_at),
        "expiresAt": _iso(n.expires_at),
    }


def received(session: Session, payloads: list[dict[str, Any]]) -> None:
    """`notificationReceived` for each, then the unread counts, after commit."""

    def publish() -> None:
        for payload in payloads:
            publish_event(NOTIFICATION_RECEIVED, payload)

    after_commit(session, publish)


def read(
    session: Session, user_id: uuid.UUID, ids: list[uuid.UUID], *, all: bool, at: datetime
) -> None:
    payload = {
        "userId": str(user_id),
        "notificationIds": [str(i) for i in ids],
        "all": all,
        "readAt": at.isoformat(),
    }
    after_commit(session, lambda: publish_event(NOTIFICATION_READ, payload))


def unread_counts(session: Session, counts: dict[uuid.UUID, int]) -> None:
    def publish() -> None:
        for user_id, count in counts.items():
            publish_event(UNREAD_COUNT, {"userId": str(user_id), "count": count})

    after_commit(session, publish)
