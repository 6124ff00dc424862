"""What other domains may ask about users, so they need not read the users' tables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.users.models import Role, User


def contacts(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """Email, name and time zone of many users, for modules that address them (notifications)."""
    rows = session.execute(
        select(User.id, User.email, User.name, User.timezone).where(User.id.in_(user_ids))
    )
    return {
        row.id: {"email": row.email, "name": row.name, "timezone": row.timezone} for row in rows
    }


def educators_among(session: Session, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among `user_ids` that belong to educators (one statement)."""
    return set(
        session.scalars(select(User.id).where(User.id.in_(user_ids), User.role == Role.EDUCATOR))
    )


def lock_user(session: Session, user_id: uuid.UUID) -> None:
    """Lock the user's row for this transaction: another domain's requests for one user
    (a subscription, say) then run one at a time."""
    session.get(User, user_id, with_for_update=True)


def user_exists(session: Session, user_id: uuid.UUID) -> bool:
    return session.get(User, user_id) is not None


def email_verified(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the user has confirmed their email address (False for an unknown user)."""
    return session.scalar(select(User.email_verified_at).where(User.id == user_id)) is not None


def member_facts(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Name, role and account creation time of many users (messaging rules, rate limits)."""
    rows = session.execute(
        select(User.id, User.name, User.role, User.created_at).where(User.id.in_(user_ids))
    )
    return {
        row.id: {"name": row.name, "role": row.role, "created_at": row.created_at} for row in rows
    }


def user_names():
    """A subquery of every user's `id` and `name`, for another domain to join in its own
    statement (a list of instructors with their names stays one read)."""
    return select(User.id, User.name).subquery("user_names")


def email_of(session: Session, user_id: uuid.UUID) -> str | None:
    """The user's email; no statement when the request already loaded the user's row."""
    user = session.get(User, user_id)
    return user.email if user is not None else None
