"""Notifications, their per-channel deliveries, push subscriptions and preferences."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class NotificationChannel(enum.StrEnum):
    EMAIL = "EMAIL"
    PUSH = "PUSH"
    IN_APP = "IN_APP"


class NotificationType(enum.StrEnum):
    NEW_MESSAGE = "NEW_MESSAGE"
    REPLY = "REPLY"
    MENTION = "MENTION"
    GRADE_POSTED = "GRADE_POSTED"
    ASSIGNMENT_DUE = "ASSIGNMENT_DUE"
    ANNOUNCEMENT = "ANNOUNCEMENT"
    ENROLLMENT = "ENROLLMENT"
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    COURSE_UPDATE = "COURSE_UPDATE"
    SYSTEM = "SYSTEM"


class Priority(enum.StrEnum):
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    SENDING = "SENDING"  # claimed by a job; a re-run resends with the same identity
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    BOUNCED = "BOUNCED"


class DigestFrequency(enum.StrEnum):
    INSTANT = "INSTANT"
    HOURLY = "HOURLY"
    DAILY = "DAILY"


def default_preference(kind: NotificationType, channel: NotificationChannel) -> bool:
    """Defaults when the user never chose: every channel on."""
    return True


def _enum(kind: type[enum.Enum], length: int) -> Enum:
    return Enum(kind, native_enum=False, length=length)


class NotificationPreference(Base):
    """A user's explicit choice for one notification type on one channel (absent: default)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (Index("ix_notification_preferences_type", "notification_type"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    notification_type: Mapped[NotificationType] = mapped_column(
        _enum(NotificationType, 32), primary_key=True
    )
    channel: Mapped[NotificationChannel] = mapped_column(
        _enum(NotificationChannel, 16), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationTypeSetting(Base):
    """Per user and type: how email arrives (instant or a digest) and whether URGENT
    notifications of the type pass switched-off channels (always for SYSTEM)."""

    __tablename__ = "notification_type_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    notification_type: Mapped[NotificationType] = mapped_column(
        _enum(NotificationType, 32), primary_key=True
    )
    digest: Mapped[DigestFrequency] = mapped_column(
        _enum(DigestFrequency, 16), default=DigestFrequency.INSTANT
    )
    urgent_overrides: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationProfile(Base):
    """A user's global switches per channel and quiet hours (minutes after local midnight)."""

    __tablename__ = "notification_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email_enabled: Mapped[bool] = mapped_column(default=True)
    push_enabled: Mapped[bool] = mapped_column(default=True)
    in_app_enabled: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[int | None] = mapped_column()
    quiet_end: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # A producer's retry carries the same key: one notification, not two.
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[NotificationType] = mapped_column(_enum(NotificationType, 32))
    priority: Mapped[Priority] = mapped_column(_enum(Priority, 16), default=Priority.NORMAL)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # False when the user switched in-app off: the row exists for its email/push deliveries.
    in_app: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class NotificationDelivery(Base):
    """One notification on one outgoing channel (email or push); in-app is the row itself."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        # The release sweep: rows waiting for quiet hours or a digest, that no job has taken
        # yet. Partial: a delivery that leaves at once (most of them) adds no entry.
        Index(
            "ix_notification_deliveries_due",
            "not_before",
            postgresql_where=text("status = 'QUEUED' AND job_id IS NULL"),
            sqlite_where=text("status = 'QUEUED' AND job_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    # The notification's user, copied for the senders' grouping. No foreign key and no
    # index: the notification's own key to users covers it (a deleted user's deliveries go
    # with their notifications), and no query looks deliveries up by user. Checking it per
    # row cost about a third of storing a fan-out's deliveries.
    user_id: Mapped[uuid.UUID] = mapped_column()
    channel: Mapped[NotificationChannel] = mapped_column(_enum(NotificationChannel, 16))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, 16))
    digest: Mapped[DigestFrequency | None] = mapped_column(_enum(DigestFrequency, 16))
    not_before: Mapped[datetime | None] = mapped_column()
    # The job that sends it (the outbox row); null while it waits for quiet hours or a digest.
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()


class PushSubscription(Base):
    """A browser's Push API subscription (endpoint and keys), as `PushManager` returns it."""

    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(2000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
