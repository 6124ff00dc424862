"""The notifications module's error codes (each also in `schemas/errors.graphql`)."""

from __future__ import annotations

from lms.errors import NotFound, ValidationFailed


def notification_not_found() -> NotFound:
    # Someone else's notification answers the same as a missing one: ids are not probed.
    return NotFound("notification not found", code="NOTIFICATION_NOT_FOUND")


def unknown_type(value: object) -> ValidationFailed:
    return ValidationFailed(
        f"unknown notification type {value!r}", code="UNKNOWN_NOTIFICATION_TYPE", field="type"
    )


def unknown_channel(value: object) -> ValidationFailed:
    return ValidationFailed(
        f"unknown notification channel {value!r}",
        code="UNKNOWN_NOTIFICATION_CHANNEL",
        field="channel",
    )


def urgent_system_required() -> ValidationFailed:
    return ValidationFailed(
        "urgent system notifications cannot be switched off", code="URGENT_SYSTEM_REQUIRED"
    )


def invalid_push_subscription(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid push subscription: {reason}", code="INVALID_PUSH_SUBSCRIPTION"
    )


def invalid_quiet_hours(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid quiet hours: {reason}", code="INVALID_QUIET_HOURS", field="quietHours"
    )
