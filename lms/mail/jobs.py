"""Requesting an email: always a job on the `email` queue, never part of a request."""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from typing import Any

from sqlalchemy.orm import Session

from lms.errors import ValidationFailed
from lms.jobs.models import Job
from lms.jobs.service import enqueue


def _checked_address(to: str) -> str:
    to = to.strip()
    try:
        address = Address(addr_spec=to)
    except (ValueError, IndexError, TypeError):
        raise ValidationFailed(f"not a valid email address: {to!r}", code="INVALID_EMAIL") from None
    if not address.domain or "\n" in to or "\r" in to:
        raise ValidationFailed(f"not a valid email address: {to!r}", code="INVALID_EMAIL")
    return to


def request_email(
    session: Session,
    *,
    template: str,
    to: str,
    context: dict[str, Any] | None = None,
    requested_by_id: uuid.UUID | None = None,
    subject: tuple[str, str] | None = None,
) -> Job:
    """Record an `email.send` job in the caller's transaction."""
    return enqueue(
        session,
        "email.send",
        {"template": template, "to": _checked_address(to), "context": context or {}},
        requested_by_id=requested_by_id,
        subject=subject,
    )
