"""The audit log: who did what to whom, for admin actions (and anything else worth proving)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.audit.models import AuditEntry
from lms.models import utcnow


def record(
    session: Session,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject: tuple[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add one audit entry in the caller's transaction (so it exists iff the change does)."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        subject_type=subject[0] if subject else None,
        subject_id=str(subject[1]) if subject else None,
        details=details or {},
        ip=ip,
        created_at=utcnow(),
    )
    session.add(entry)
    return entry
