"""The permission layer every module uses: roles, ownership and a verified email.

- `UNAUTHENTICATED`: no (valid) access token where one is needed.
- `FORBIDDEN`: signed in, but this role or this user may not do it.
- `EMAIL_NOT_VERIFIED`: signed in, but the operation needs a confirmed email address
  (uploading an avatar here; publishing a course or posting in later modules).
"""

from __future__ import annotations

import uuid

from sqlalchemy import union
from sqlalchemy.orm import Session

from lms.errors import Forbidden, Unauthenticated
from lms.security import Viewer, require_authenticated, require_role
from lms.users.errors import UserCode
from lms.users.models import Role, User

__all__ = [
    "require_authenticated",
    "require_role",
    "require_owner_or_role",
    "require_verified_email",
    "is_owner_or_admin",
]


def is_owner_or_admin(viewer: Viewer, owner_id: uuid.UUID | None) -> bool:
    return viewer.is_admin or (viewer.user_id is not None and viewer.user_id == owner_id)


def require_owner_or_role(viewer: Viewer, owner_id: uuid.UUID | None, *roles: Role) -> uuid.UUID:
    """The viewer's id if they own the thing or have one of `roles` (ADMIN always may)."""
    user_id = require_authenticated(viewer)
    if user_id == owner_id or viewer.role in roles or viewer.is_admin:
        return user_id
    raise Forbidden("you may only do this to your own account", code="FORBIDDEN")


def require_verified_email(session: Session, viewer: Viewer) -> User:
    """The viewer's account, if its email address is confirmed."""
    user_id = require_authenticated(viewer)
    user = session.get(User, user_id)
    if user is None:
        raise Unauthenticated("this account no longer exists")
    if user.email_verified_at is None:
        raise Forbidden(
            "confirm your email address first (see the email we sent you)",
            code=UserCode.EMAIL_NOT_VERIFIED,
        )
    return user


def shares_course(session: Session, viewer_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether two users meet in a course (for ENROLLED_ONLY profiles): both enrolled in it
    (active or completed), or one teaching it while the other is enrolled."""
    # Imported here: courses and enrollments both build on users.
    from lms.courses.access import instructed_course_ids
    from lms.enrollments.access import enrolled_course_ids

    def courses(person: uuid.UUID, *, teaching: bool):
        enrolled = enrolled_course_ids(person)
        if not teaching:
            return enrolled
        return union(enrolled, instructed_course_ids(person))

    # Both may teach, but two instructors alone do not "share a course" as classmates do.
    viewer_courses = set(session.scalars(courses(viewer_id, teaching=True)))
    if not viewer_courses:
        return False
    enrolled_overlap = set(session.scalars(courses(user_id, teaching=False))) & viewer_courses
    if enrolled_overlap:
        return True
    viewer_enrolled = set(session.scalars(courses(viewer_id, teaching=False)))
    user_teaching = set(session.scalars(instructed_course_ids(user_id)))
    return bool(viewer_enrolled & user_teaching)
