"""Preferences: global switches per channel, per type and channel, digests, quiet hours.

One implementation: `updateNotificationPreferences` (Users and Notifications share the
mutation) and delivery decisions both read from here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.models import utcnow
from lms.notifications import errors
from lms.notifications.models import (
    DigestFrequency,
    NotificationChannel,
    NotificationPreference,
    NotificationProfile,
    NotificationType,
    NotificationTypeSetting,
    default_preference,
)
from lms.notifications.service.sql import among
from lms.security import Viewer, require_authenticated

CHANNEL_FIELDS = {
    "email": NotificationChannel.EMAIL,
    "push": NotificationChannel.PUSH,
    "in_app": NotificationChannel.IN_APP,
}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_type(value: Any) -> NotificationType:
    try:
        return NotificationType(value)
    except ValueError:
        raise errors.unknown_type(value) from None


def parse_channel(value: Any) -> NotificationChannel:
    try:
        return NotificationChannel(value)
    except ValueError:
        raise errors.unknown_channel(value) from None


@dataclass
class Choices:
    """Everything delivery needs to know about one user's wishes."""

    channels: dict[NotificationChannel, bool] = field(
        default_factory=lambda: dict.fromkeys(NotificationChannel, True)
    )
    per_type: dict[tuple[NotificationType, NotificationChannel], bool] = field(default_factory=dict)
    digest: dict[NotificationType, DigestFrequency] = field(default_factory=dict)
    urgent_overrides: dict[NotificationType, bool] = field(default_factory=dict)
    quiet: tuple[int, int] | None = None

    def wants(self, kind: NotificationType, channel: NotificationChannel) -> bool:
        return self.channels[channel] and self.per_type.get(
            (kind, channel), default_preference(kind, channel)
        )

    def urgent_passes(self, kind: NotificationType) -> bool:
        return kind == NotificationType.SYSTEM or self.urgent_overrides.get(kind, True)


def choices_for(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Choices]:
    """Choices of many users in three queries (a fan-out batch pays them once)."""
    ids = list(set(user_ids))
    found = {user_id: Choices() for user_id in ids}
    if not ids:
        return found
    for p in session.scalars(
        select(NotificationProfile).where(among(session, NotificationProfile.user_id, ids))
    ):
        c = found[p.user_id]
        c.channels = {
            NotificationChannel.EMAIL: p.email_enabled,
            NotificationChannel.PUSH: p.push_enabled,
            NotificationChannel.IN_APP: p.in_app_enabled,
        }
        if p.quiet_start is not None and p.quiet_end is not None:
            c.quiet = (p.quiet_start, p.quiet_end)
    for pref in session.scalars(
        select(NotificationPreference).where(among(session, NotificationPreference.user_id, ids))
    ):
        found[pref.user_id].per_type[(pref.notification_type, pref.channel)] = pref.enabled
    for ts in session.scalars(
        select(NotificationTypeSetting).where(among(session, NotificationTypeSetting.user_id, ids))
    ):
        found[ts.user_id].digest[ts.notification_type] = ts.digest
        found[ts.user_id].urgent_overrides[ts.notification_type] = ts.urgent_overrides
    return found


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def preferences_view(session: Session, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Per type: its channels (as chosen per type), email digest and urgent override."""
    c = choices_for(session, [user_id])[user_id]
    return [
        {
            "type": kind.value,
            **{
                name: c.per_type.get((kind, channel), default_preference(kind, channel))
                for name, channel in CHANNEL_FIELDS.items()
            },
            "digest": c.digest.get(kind, DigestFrequency.INSTANT).value,
            "urgent": c.urgent_passes(kind),
        }
        for kind in NotificationType
    ]


def get_notification_preferences(session: Session, viewer: Viewer) -> dict[str, Any]:
    user_id = require_authenticated(viewer)
    c = choices_for(session, [user_id])[user_id]
    return {
        **{name: c.channels[channel] for name, channel in CHANNEL_FIELDS.items()},
        "quiet_hours": (
            {"start": _clock(c.quiet[0]), "end": _clock(c.quiet[1])} if c.quiet else None
        ),
        "types": preferences_view(session, user_id),
    }


def _minutes(value: Any, name: str) -> int:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise errors.invalid_quiet_hours(f"{name} must be HH:MM (24-hour), not {value!r}")
    return int(match[1]) * 60 + int(match[2])


def _profile(session: Session, user_id: uuid.UUID) -> NotificationProfile:
    profile = session.get(NotificationProfile, user_id)
    if profile is None:
        profile = NotificationProfile(
            user_id=user_id, email_enabled=True, push_enabled=True, in_app_enabled=True
        )
        session.add(profile)
    return profile


def _type_setting(
    session: Session, user_id: uuid.UUID, kind: NotificationType
) -> NotificationTypeSetting:
    setting = session.get(NotificationTypeSetting, (user_id, kind))
    if setting is None:
        setting = NotificationTypeSetting(
            user_id=user_id,
            notification_type=kind,
            digest=DigestFrequency.INSTANT,
            urgent_overrides=True,
        )
        session.add(setting)
    return setting


def update_notification_preferences(
    session: Session,
    viewer: Viewer,
    *,
    preferences: list[dict[str, Any]] | None = None,
    channels: dict[str, Any] | None = None,
    quiet_hours: dict[str, Any] | None = None,
    clear_quiet_hours: bool = False,
) -> list[dict[str, Any]]:
    """Set channels per type (omitted ones keep their value), digests, the urgent override,
    global switches and quiet hours. Everything is checked before anything is written."""
    user_id = require_authenticated(viewer)
    items = [(parse_type(item.get("type")), item) for item in preferences or []]
    for kind, item in items:
        unknown = set(item) - {"type", "digest", "urgent", *CHANNEL_FIELDS}
        if unknown:
            raise errors.unknown_channel(min(unknown))
        if item.get("urgent") is False and kind == NotificationType.SYSTEM:
            raise errors.urgent_system_required()
        if item.get("digest") is not None and item["digest"] not in DigestFrequency.__members__:
            raise errors.unknown_channel(item["digest"])
    for name in channels or {}:
        if name not in CHANNEL_FIELDS:
            raise errors.unknown_channel(name)
    quiet = None
    if quiet_hours is not None:
        quiet = (
            _minutes(quiet_hours.get("start"), "start"),
            _minutes(quiet_hours.get("end"), "end"),
        )
        if quiet[0] == quiet[1]:
            raise errors.invalid_quiet_hours("start and end must differ")

    now = utcnow()
    for kind, item in items:
        for name, channel in CHANNEL_FIELDS.items():
            if item.get(name) is None:
                continue
            existing = session.get(NotificationPreference, (user_id, kind, channel))
            if existing is None:
                session.add(
                    NotificationPreference(
                        user_id=user_id,
                        notification_type=kind,
                        channel=channel,
                        enabled=bool(item[name]),
                        updated_at=now,
                    )
                )
            else:
                existing.enabled = bool(item[name])
        if item.get("digest") is not None or item.get("urgent") is not None:
            setting = _type_setting(session, user_id, kind)
            if item.get("digest") is not None:
                setting.digest = DigestFrequency(item["digest"])
            if item.get("urgent") is not None:
                setting.urgent_overrides = bool(item["urgent"])
    if channels or quiet is not None or clear_quiet_hours:
        profile = _profile(session, user_id)
        for name, value in (channels or {}).items():
            if value is not None:
                setattr(profile, f"{name}_enabled", bool(value))
        if quiet is not None:
            profile.quiet_start, profile.quiet_end = quiet
        elif clear_quiet_hours:
            profile.quiet_start = profile.quiet_end = None
    session.flush()
    return preferences_view(session, user_id)
