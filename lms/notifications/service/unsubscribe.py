"""One-click unsubscribe (RFC 8058): a signed link per user and type in every email."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.errors import ValidationFailed
from lms.notifications.models import NotificationType
from lms.notifications.service.preferences import update_notification_preferences
from lms.security import Viewer


def _signature(message: str, secret: str) -> str:
    digest = hmac.new(f"unsubscribe:{secret}".encode(), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()


def token(user_id: uuid.UUID, kind: NotificationType, settings: Settings | None = None) -> str:
    message = f"{user_id}.{kind.value}"
    return f"{message}.{_signature(message, (settings or get_settings()).secret_key)}"


def unsubscribe_url(user_id: uuid.UUID, kind: NotificationType, settings: Settings) -> str:
    base = settings.public_url.rstrip("/")
    return f"{base}/notifications/unsubscribe?token={token(user_id, kind, settings)}"


def unsubscribe(session: Session, raw: str) -> NotificationType:
    """Switch off email for the token's user and type (never the URGENT system override)."""
    parts = raw.split(".") if isinstance(raw, str) else []
    if len(parts) != 3 or not hmac.compare_digest(
        parts[2], _signature(f"{parts[0]}.{parts[1]}", get_settings().secret_key)
    ):
        raise ValidationFailed("this unsubscribe link is not valid", code="INVALID_TOKEN")
    user_id, kind = uuid.UUID(parts[0]), NotificationType(parts[1])
    update_notification_preferences(
        session, Viewer(user_id=user_id), preferences=[{"type": kind.value, "email": False}]
    )
    return kind
