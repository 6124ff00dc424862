"""The operator console's audit trail: every control action (retry, pause, resume, clear,
drain, clearing alerts, exports), with who did it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin.access import require_operator
from lms.audit.models import AuditEntry
from lms.errors import ValidationFailed
from lms.users.service import contacts

MAX_ENTRIES = 500


def control_actions(session: Session, viewer, *, limit: int | None = 50) -> list[dict[str, Any]]:
    """The latest `admin.*` audit entries, newest first (admins and operators)."""
    require_operator(viewer)
    limit = 50 if limit is None else limit  # an explicit null means the default
    if not 1 <= limit <= MAX_ENTRIES:
        raise ValidationFailed(f"limit must be 1..{MAX_ENTRIES}", code="BAD_USER_INPUT")
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.like("admin.%"))
        .order_by(AuditEntry.created_at.desc())
        .limit(limit)
    ).all()
    actors = contacts(session, list({e.actor_id for e in entries if e.actor_id is not None}))
    rows = [(entry, actors.get(entry.actor_id, {}).get("email")) for entry in entries]
    return [
        {
            "id": entry.id,
            "at": entry.created_at,
            "action": entry.action,
            "actor_id": entry.actor_id,
            "actor_email": email,
            "subject_type": entry.subject_type,
            "subject_id": entry.subject_id,
            "details": entry.details or {},
        }
        for entry, email in rows
    ]
