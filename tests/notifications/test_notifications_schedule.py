"""When held deliveries may leave: quiet hours in the user's zone, digest windows."""

from __future__ import annotations

from datetime import UTC, datetime

from lms.notifications.models import DigestFrequency
from lms.notifications.service.schedule import digest_due, quiet_until

NIGHT = (22 * 60, 7 * 60)  # 22:00–07:00, over midnight


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_window_over_midnight_ends_next_morning_in_the_users_zone():
    # 23:30 in Tokyo (UTC+9) is 14:30 UTC; the window ends at 07:00 Tokyo, 22:00 UTC.
    assert quiet_until(at("2026-03-10T14:30"), NIGHT, "Asia/Tokyo") == at("2026-03-10T22:00")
    # 02:00 in Tokyo, the same night after midnight: still 07:00 Tokyo.
    assert quiet_until(at("2026-03-10T17:00"), NIGHT, "Asia/Tokyo") == at("2026-03-10T22:00")
    # Noon in Tokyo: outside the window.
    assert quiet_until(at("2026-03-10T03:00"), NIGHT, "Asia/Tokyo") is None


def test_a_daytime_window_and_no_window():
    lunch = (12 * 60, 13 * 60)
    assert quiet_until(at("2026-03-10T12:15"), lunch, "UTC") == at("2026-03-10T13:00")
    assert quiet_until(at("2026-03-10T13:00"), lunch, "UTC") is None
    assert quiet_until(at("2026-03-10T12:15"), None, "UTC") is None


def test_an_unknown_zone_counts_as_utc():
    assert quiet_until(at("2026-03-10T23:00"), NIGHT, "Mars/Olympus") == at("2026-03-11T07:00")


def test_digest_windows_close_on_the_hour_and_at_eight_local():
    now = at("2026-03-10T09:41")
    assert digest_due(now, DigestFrequency.HOURLY, "UTC") == at("2026-03-10T10:00")
    assert digest_due(now, DigestFrequency.DAILY, "UTC") == at("2026-03-11T08:00")
    # 08:00 in New York (UTC-4 after the March change) is 12:00 UTC.
    assert digest_due(now, DigestFrequency.DAILY, "America/New_York") == at("2026-03-10T12:00")
    assert digest_due(now, DigestFrequency.INSTANT, "UTC") is None
