"""Profiles: reading them (as the viewer may) and changing them."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from typing import Any

from sqlalchemy.orm import Session

from lms import audit
from lms.config import Settings, get_settings
from lms.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from lms.jobs.service import enqueue
from lms.models import utcnow
from lms.security import Viewer, require_authenticated
from lms.users import avatars
from lms.users.errors import UserCode
from lms.users.models import AvatarStatus, ProfileVisibility, Role, User
from lms.users.permissions import require_verified_email, shares_course
from lms.users.service.common import clean_name, find_user
from lms.users.service.sessions import revoke_everything
from lms.users.service.views import user_view


MAX_BIO = 2000
AVATAR_JOB = "users.avatar_resize"


def me(session: Session, viewer: Viewer) -> dict[str, Any]:
    user = session.get(User, require_authenticated(viewer))
    if user is None:
        raise Unauthenticated("this account no longer exists")
    return user_view(session, user, full=True)


def get_user(session: Session, viewer: Viewer, user_id: str) -> dict[str, Any]:
    """A profile as `viewer` may see it: all of it for the owner and admins; for others what
    the profile's visibility allows, and never the email."""
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("no such user", code="NOT_FOUND") from None
    user = find_user(session, key)
    if viewer.is_admin or viewer.user_id == user.id:
        return user_view(session, user, full=True)
    visible = user.profile_visibility == ProfileVisibility.PUBLIC or (
        user.profile_visibility == ProfileVisibility.ENROLLED_ONLY
        and viewer.user_id is not None
        and shares_course(session, viewer.user_id, user.id)
    )
    if not visible:
        raise Forbidden("this profile is private", code="FORBIDDEN", reason="PROFILE_PRIVATE")
    return user_view(session, user, full=False)


def _check_timezone(value: str) -> str:
    value = value.strip()
    if value not in zoneinfo.available_timezones():
        raise ValidationFailed(
            f"unknown time zone {value!r} (use an IANA name like Europe/Paris)",
            code=UserCode.INVALID_TIMEZONE,
        )
    return value


def _check_language(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}", value):
        raise ValidationFailed(
            f"{value!r} is not a language tag (like en or pt-BR)", code=UserCode.INVALID_LANGUAGE
        )
    return value


def update_profile(
    session: Session,
    viewer: Viewer,
    *,
    fields: dict[str, Any],
    ip: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Change a profile: your own, or anyone's as an admin (audited). Roles: admins only."""
    settings = settings or get_settings()
    actor = require_authenticated(viewer)
    target_id = uuid.UUID(str(fields["user_id"])) if fields.get("user_id") else actor
    if target_id != actor and not viewer.is_admin:
        raise Forbidden("you may only change your own profile", code="FORBIDDEN")
    user = find_user(session, target_id)
    changes: dict[str, Any] = {}

    if fields.get("role") is not None and Role(fields["role"]) != user.role:
        if not viewer.is_admin:
            raise Forbidden("only an admin can change roles", code="FORBIDDEN")
        if target_id == actor:
            raise Forbidden(
                "admins cannot change their own role; ask another admin", code="FORBIDDEN"
            )
        changes["role"] = [user.role.value, fields["role"]]
        user.role = Role(fields["role"])
        revoke_everything(session, user, reason="ROLE_CHANGED")  # tokens carry the role
    if fields.get("name") is not None:
        user.name = clean_name(fields["name"])
        changes["name"] = user.name
    if "bio" in fields:
        bio = (fields["bio"] or "").strip() or None
        if bio and len(bio) > MAX_BIO:
            raise ValidationFailed(
                f"the bio must have at most {MAX_BIO} characters", code=UserCode.BIO_TOO_LONG
            )
        user.bio = bio
        changes["bio"] = True
    if fields.get("timezone") is not None:
        user.timezone = changes["timezone"] = _check_timezone(fields["timezone"])
    if fields.get("language") is not None:
        user.language = changes["language"] = _check_language(fields["language"])
    if fields.get("profile_visibility") is not None:
        user.profile_visibility = ProfileVisibility(fields["profile_visibility"])
        changes["profile_visibility"] = user.profile_visibility.value
    if fields.get("remove_avatar"):
        user.avatar_key, user.avatar_status = None, AvatarStatus.NONE
        changes["avatar"] = None
    if fields.get("avatar_data_url"):
        # A public picture: only from confirmed addresses (spam); checked by content.
        if target_id == actor:
            require_verified_email(session, viewer)
        upload = avatars.parse_data_url(fields["avatar_data_url"], settings)
        key = avatars.new_key(user.id)
        avatars.save_original(key, upload.data, settings)
        user.avatar_key, user.avatar_status = key, AvatarStatus.PROCESSING
        enqueue(
            session,
            AVATAR_JOB,
            {"user_id": str(user.id), "key": key},
            subject=("user", user.id),
            requested_by_id=actor,
            settings=settings,
        )
        changes["avatar"] = key
    user.updated_at = utcnow()
    if target_id != actor and changes:
        audit.record(
            session,
            actor_id=actor,
            action="user.update",
            subject=("user", user.id),
            details=changes,
            ip=ip,
        )
    return user_view(session, user, full=True)


def update_notification_preferences(
    session: Session,
    viewer: Viewer,
    **changes: Any,
) -> list[dict[str, Any]]:
    """Set channels per notification type: one implementation, in lms.notifications."""
    from lms.notifications.service import update_notification_preferences as update

    return update(session, viewer, **changes)
