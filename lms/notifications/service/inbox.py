"""Reading notifications: lists, one notification, unread counts; marking read; expiry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from lms import pagination
from lms.models import utcnow
from lms.notifications import access, errors, events
from lms.notifications.models import (
    Notification,
    NotificationChannel,
    NotificationDelivery,
    Priority,
)
from lms.notifications.service.preferences import parse_type
from lms.notifications.service.producer import unread_counts
from lms.security import Role, Viewer, require_authenticated, require_role


def _live(now: datetime):
    return and_(
        Notification.in_app.is_(True),
        or_(Notification.expires_at.is_(None), Notification.expires_at > now),
    )


def _views(session: Session, rows: list[Notification]) -> list[dict[str, Any]]:
    """Notifications as the API shows them, with every channel's delivery (one query)."""
    by_id: dict[uuid.UUID, list[dict[str, Any]]] = {n.id: [] for n in rows}
    if rows:
        for d in session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.notification_id.in_(by_id))
        ):
            by_id[d.notification_id].append(
                {
                    "channel": d.channel.value,
                    "status": d.status.value,
                    "digest": d.digest.value if d.digest else None,
                    "not_before": d.not_before,
                    "attempts": d.attempts,
                    "error_code": d.error_code,
                    "error_message": d.error_message,
                    "sent_at": d.sent_at,
                    "updated_at": d.updated_at or d.created_at,
                }
            )
    return [
        {
            "id": n.id,
            "user_id": n.user_id,
            "type": n.type.value,
            "priority": n.priority.value,
            "title": n.title,
            "body": n.body,
            "link": n.link,
            "data": {k: v for k, v in (n.data or {}).items() if not k.startswith("email")},
            "read": n.read_at is not None,
            "read_at": n.read_at,
            "created_at": n.created_at,
            "expires_at": n.expires_at,
            # In-app is the stored row itself: delivered when shown, skipped when switched off.
            "deliveries": [
                {
                    "channel": NotificationChannel.IN_APP.value,
                    "status": "DELIVERED" if n.in_app else "SKIPPED",
                    "digest": None,
                    "not_before": None,
                    "attempts": 0,
                    "error_code": None if n.in_app else "PREFERENCE",
                    "error_message": None,
                    "sent_at": n.created_at,
                    "updated_at": n.created_at,
                },
                *sorted(by_id[n.id], key=lambda d: d["channel"]),
            ],
        }
        for n in rows
    ]


def _parse_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.notification_not_found() from None


def _own(session: Session, viewer: Viewer, notification_id: Any) -> Notification:
    """A notification the viewer may see; someone else's answers as missing."""
    require_authenticated(viewer)
    notification = session.get(Notification, _parse_id(notification_id))
    if notification is None or not access.can_see(viewer, notification.user_id):
        raise errors.notification_not_found()
    return notification


def get_user_notifications(
    session: Session,
    viewer: Viewer,
    *,
    filter: dict[str, Any] | None = None,
    pagination_input: dict[str, Any] | None = None,
) -> pagination.Connection:
    """Newest first. Filters: type, priority, unread only; admins may name a user."""
    filter = filter or {}
    user_id = access.target_user(viewer, filter.get("user_id"))
    where = [Notification.user_id == user_id, _live(utcnow())]
    scope: dict[str, Any] = {"user": str(user_id)}
    if filter.get("type") is not None:
        where.append(Notification.type == parse_type(filter["type"]))
        scope["type"] = filter["type"]
    if filter.get("priority") is not None:
        where.append(Notification.priority == Priority(filter["priority"]))
        scope["priority"] = filter["priority"]
    if filter.get("unread_only"):
        where.append(Notification.read_at.is_(None))
        scope["unread"] = True
    request = pagination.page_request(
        pagination_input, query=pagination.query_key("notifications", scope)
    )
    query = select(Notification).where(*where)
    if request.after is not None:
        try:
            moment, last = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (IndexError, TypeError, ValueError):
            raise pagination.invalid_cursor("not a cursor of this list") from None
        query = query.where(
            or_(
                Notification.created_at < moment,
                and_(Notification.created_at == moment, Notification.id < last),
            )
        )
    rows = session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(
            request.first + 1
        )
    ).all()
    total = session.scalar(select(func.count()).select_from(Notification).where(*where))
    return pagination.connection(
        _views(session, list(rows)),
        request,
        lambda v: [v["created_at"].isoformat(), str(v["id"])],
        total,
    )


def get_notification(session: Session, viewer: Viewer, *, id: Any) -> dict[str, Any]:
    return _views(session, [_own(session, viewer, id)])[0]


def get_unread_notification_count(
    session: Session, viewer: Viewer, *, notification_type: str | None = None
) -> int:
    user_id = require_authenticated(viewer)
    where = [Notification.user_id == user_id, Notification.read_at.is_(None), _live(utcnow())]
    if notification_type is not None:
        where.append(Notification.type == parse_type(notification_type))
    return session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0


def mark_notification_read(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> dict:
    """Mark one read (or unread again with `read: false`); the owner's streams hear of it."""
    notification = _own(session, viewer, input.get("notification_id"))
    if notification.user_id != viewer.user_id:
        raise errors.notification_not_found()  # admins may look, not mark
    read = input.get("read", True) is not False
    now = utcnow()
    changed = (notification.read_at is None) == read
    notification.read_at = (notification.read_at or now) if read else None
    session.flush()
    if changed:
        if read:
            events.read(session, notification.user_id, [notification.id], all=False, at=now)
        events.unread_counts(session, unread_counts(session, [notification.user_id]))
    return _views(session, [notification])[0]


def mark_all_notifications_read(
    session: Session, viewer: Viewer, *, input: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Mark every unread notification (of one type, if given) read."""
    user_id = require_authenticated(viewer)
    input = input or {}
    now = utcnow()
    where = [Notification.user_id == user_id, Notification.read_at.is_(None)]
    if input.get("type") is not None:
        where.append(Notification.type == parse_type(input["type"]))
    count = session.execute(
        update(Notification)
        .where(*where)
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    unread = unread_counts(session, [user_id])
    if count:
        events.read(session, user_id, [], all=True, at=now)
        events.unread_counts(session, unread)
    return {"count": count, "unread_count": unread[user_id], "read_at": now}


def delete_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete notifications past their expiry (their deliveries go with them)."""
    now = now or utcnow()
    expired = select(Notification.id).where(Notification.expires_at <= now)
    session.execute(
        delete(NotificationDelivery)
        .where(NotificationDelivery.notification_id.in_(expired))
        .execution_options(synchronize_session=False)
    )
    return session.execute(
        delete(Notification)
        .where(Notification.expires_at <= now)
        .execution_options(synchronize_session=False)
    ).rowcount


def delete_expired_notifications(session: Session, viewer: Viewer) -> int:
    """Admins: clean up now what the daily job would."""
    require_role(viewer, Role.ADMIN)
    return delete_expired(session)
