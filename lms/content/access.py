"""Who may stream a lesson's video and read a course's resources.

- Admins and the course's instructors (owner and co-instructors): always.
- Free-preview lessons: anyone signed in.
- Students: only with an enrollment in the course. The Enrollments module does not exist
  yet; until it provides `lms.enrollments.models.Enrollment`, students are refused with
  `FORBIDDEN` and a message saying so. `is_enrolled` is the one place to change.
"""

from __future__ import annotations

import importlib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.courses.models import Course, CourseInstructor, Lesson
from lms.errors import Forbidden
from lms.security import Viewer, require_authenticated

# Enrollment statuses that do not (or no longer) give access, whatever the module calls them.
_INACTIVE = {"CANCELLED", "CANCELED", "REFUNDED", "EXPIRED", "DROPPED", "PENDING", "SUSPENDED"}


def is_instructor(session: Session, user_id: uuid.UUID | None, course_id: uuid.UUID | None) -> bool:
    if user_id is None or course_id is None:
        return False
    return (
        session.scalar(
            select(CourseInstructor.user_id).where(
                CourseInstructor.course_id == course_id, CourseInstructor.user_id == user_id
            )
        )
        is not None
        or session.scalar(
            select(Course.id).where(Course.id == course_id, Course.owner_id == user_id)
        )
        is not None
    )


def can_manage_course(session: Session, viewer: Viewer, course_id: uuid.UUID | None) -> bool:
    """Admins and the course's instructors."""
    return viewer.is_admin or is_instructor(session, viewer.user_id, course_id)


def _enrollment_model():
    try:
        return importlib.import_module("lms.enrollments.models").Enrollment
    except (ImportError, AttributeError):
        return None


def is_enrolled(session: Session, user_id: uuid.UUID, course_id: uuid.UUID) -> bool | None:
    """Whether `user_id` has an active enrollment in the course; None when enrollments do
    not exist yet in this installation."""
    model = _enrollment_model()
    if model is None:
        return None
    user_column = getattr(model, "user_id", None) or getattr(model, "student_id", None)
    if user_column is None:
        return None
    rows = session.execute(
        select(model).where(model.course_id == course_id, user_column == user_id).limit(5)
    ).scalars()
    for row in rows:
        status = getattr(row, "status", None)
        if status is None or str(getattr(status, "value", status)).upper() not in _INACTIVE:
            return True
    return False


def can_stream(session: Session, viewer: Viewer, lesson: Lesson) -> None:
    """Allow streaming `lesson`'s video, or raise `FORBIDDEN` with the reason."""
    user_id = require_authenticated(viewer)
    if can_manage_course(session, viewer, lesson.course_id) or lesson.is_free_preview:
        return
    enrolled = is_enrolled(session, user_id, lesson.course_id)
    if enrolled is None:
        raise Forbidden(
            "only the course's instructors may stream this lesson until enrollments are available",
            code="FORBIDDEN",
            reason="ENROLLMENTS_UNAVAILABLE",
        )
    if not enrolled:
        raise Forbidden(
            "enroll in the course to watch this lesson", code="FORBIDDEN", reason="NOT_ENROLLED"
        )


def can_view_course_resources(session: Session, viewer: Viewer, course_id: uuid.UUID) -> bool:
    """Course resources: instructors and admins, and enrolled students."""
    if can_manage_course(session, viewer, course_id):
        return True
    return viewer.user_id is not None and bool(is_enrolled(session, viewer.user_id, course_id))
