"""Requesting an email: always a job on the `email` queue, never part of a request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.errors import PermanentJobError, ValidationFailed
from lms.jobs.models import Job
from lms.jobs.service import enqueue
from lms.mail.templates import parse_address


def _checked_address(to: str) -> str:
    """The same rule the sending job applies, enforced while the caller can still fix it."""
    try:
        parse_address(to, code="INVALID_EMAIL", what="recipient")
    except PermanentJobError as error:
        raise ValidationFailed(error.message, code="INVALID_EMAIL") from None
    return to.strip()


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
