"""When an outgoing delivery may leave: quiet hours in the user's time zone, digest windows."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from lms.notifications.models import DigestFrequency

DAILY_DIGEST_HOUR = 8  # local time: the daily digest arrives with the morning coffee


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def quiet_until(now: datetime, quiet: tuple[int, int] | None, tz: str | None) -> datetime | None:
    """The end of the quiet window `now` falls in (UTC), or None outside it."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(_zone(tz))
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), time(end // 60, end % 60), tzinfo=local.tzinfo)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


def digest_due(now: datetime, frequency: DigestFrequency, tz: str | None) -> datetime | None:
    """When the digest window that `now` falls in closes (UTC); None for instant email."""
    if frequency == DigestFrequency.HOURLY:
        return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if frequency == DigestFrequency.DAILY:
        local = now.astimezone(_zone(tz))
        due = datetime.combine(local.date(), time(DAILY_DIGEST_HOUR), tzinfo=local.tzinfo)
        if due <= local:
            due += timedelta(days=1)
        return due.astimezone(UTC)
    return None
