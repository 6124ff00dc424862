"""Who may see what: a user sees their own notifications; admins see anyone's."""

from __future__ import annotations

import uuid

from lms.errors import Forbidden
from lms.security import Viewer, require_authenticated


def target_user(viewer: Viewer, user_id: object | None) -> uuid.UUID:
    """The user whose notifications `viewer` asks about: themself unless an admin names one."""
    me = require_authenticated(viewer)
    if user_id is None or str(user_id) == str(me):
        return me
    if not viewer.is_admin:
        raise Forbidden("you may only see your own notifications", code="FORBIDDEN")
    try:
        return uuid.UUID(str(user_id))
    except ValueError:
        raise Forbidden("you may only see your own notifications", code="FORBIDDEN") from None


def can_see(viewer: Viewer, owner_id: uuid.UUID) -> bool:
    return viewer.user_id == owner_id or viewer.is_admin
