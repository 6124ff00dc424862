"""What a viewer sees of a user: the profile view, the avatar, notification preferences."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.users import avatars
from lms.users.models import AvatarStatus, User


def preferences_view(session: Session, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """A user's channels per notification type: lms.notifications owns the rules."""
    from lms.notifications.service import preferences_view as view

    return view(session, user_id)


def avatar_view(user: User) -> dict[str, Any] | None:
    if user.avatar_status == AvatarStatus.NONE or not user.avatar_key:
        return None
    ready = user.avatar_status == AvatarStatus.READY
    return {
        "status": user.avatar_status.value,
        "images": avatars.image_keys(user.avatar_key) if ready else [],
    }


def user_view(session: Session, user: User, *, full: bool) -> dict[str, Any]:
    """What a viewer may see: everything (`full`: the user, admins) or the public profile."""
    view: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "role": user.role.value,
        "bio": user.bio,
        "avatar": avatar_view(user),
        "created_at": user.created_at,
        "email": None,
        "email_verified": None,
        "timezone": None,
        "language": None,
        "profile_visibility": None,
    }
    if full:
        view.update(
            email=user.email,
            email_verified=user.email_verified,
            timezone=user.timezone,
            language=user.language,
            profile_visibility=user.profile_visibility.value,
        )
    # Preferences are one more query: loaded by the API only when a client asks for them.
    view["private_fields"] = full
    return view
