"""Who may stream a lesson's video and read a course's resources.

- Admins and the course's instructors (owner and co-instructors): always.
- Free-preview lessons: anyone signed in.
- Students: only with an ACTIVE or COMPLETED enrollment in the course (the Enrollments
  module decides, `lms.enrollments.access.is_enrolled`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.courses.access import teaches_or_owns
from lms.enrollments import access as enrollments
from lms.errors import Forbidden
from lms.security import Viewer, require_authenticated


def is_instructor(session: Session, user_id: uuid.UUID | None, course_id: uuid.UUID | None) -> bool:
    return teaches_or_owns(session, user_id, course_id)


def can_manage_course(session: Session, viewer: Viewer, course_id: uuid.UUID | None) -> bool:
    """Admins and the course's instructors."""
    return viewer.is_admin or is_instructor(session, viewer.user_id, course_id)


def can_stream(session: Session, viewer: Viewer, lesson: Any) -> None:
    """Allow streaming `lesson`'s video (a course lesson row), or raise `FORBIDDEN` with the
    reason."""
    user_id = require_authenticated(viewer)
    if can_manage_course(session, viewer, lesson.course_id) or lesson.is_free_preview:
        return
    if not enrollments.is_enrolled(session, user_id, lesson.course_id):
        raise Forbidden(
            "enroll in the course to watch this lesson", code="FORBIDDEN", reason="NOT_ENROLLED"
        )


def can_view_course_resources(session: Session, viewer: Viewer, course_id: uuid.UUID) -> bool:
    """Course resources: instructors and admins, and enrolled students."""
    if can_manage_course(session, viewer, course_id):
        return True
    return viewer.user_id is not None and enrollments.is_enrolled(
        session, viewer.user_id, course_id
    )
