"""Live notification events, keyed by user id and published only after the change commits.

A fan-out publishes one event per recipient and topic; they go out with the rest of their
transaction's events on one producer from a single background thread, in order
(`lms.events.ordered`), so the next batch's inserts do not wait for them.
The bus is fire-and-forget either way: the database holds the record.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lms.events.ordered import publish_after_commit
from lms.events.topics import NOTIFICATION_READ, NOTIFICATION_RECEIVED, UNREAD_COUNT, Topic


def _after_commit(session: Session, topic: Topic, payloads: list[dict[str, Any]]) -> None:
    publish_after_commit(session, topic, payloads)


def received(session: Session, payloads: list[dict[str, Any]]) -> None:
    _after_commit(session, NOTIFICATION_RECEIVED, payloads)


def read(
    session: Session, user_id: uuid.UUID, ids: list[uuid.UUID], *, all: bool, at: datetime
) -> None:
    payload = {
        "userId": str(user_id),
        "notificationIds": [str(i) for i in ids],
        "all": all,
        "readAt": at.isoformat(),
    }
    _after_commit(session, NOTIFICATION_READ, [payload])


def unread_counts(session: Session, counts: dict[uuid.UUID, int]) -> None:
    payloads = [{"userId": str(u), "count": c} for u, c in counts.items()]
    _after_commit(session, UNREAD_COUNT, payloads)
