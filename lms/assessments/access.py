"""Who may see and do what in Assessments.

- The course's instructors (owner, co-instructors) and admins author quizzes and
  assignments and see and grade every submission of their courses.
- Enrolled students take quizzes and submit assignments, and see their own submissions only;
  anyone else's submission answers "not found", so ids reveal nothing.
- Nobody grades their own submission (an instructor who is also enrolled included).
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from lms.courses import access as courses
from lms.enrollments import access as enrollments
from lms.errors import Forbidden, NotFound
from lms.security import Viewer, require_authenticated


def parse_id(value: Any, error: type[NotFound], what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise error(f"{what} not found") from None


def teaches(session: Session, viewer: Viewer, course_id: uuid.UUID) -> bool:
    return viewer.is_admin or enrollments.teaches(session, viewer.user_id, course_id)


def require_instructor(session: Session, viewer: Viewer, course_id: uuid.UUID) -> uuid.UUID:
    user_id = require_authenticated(viewer)
    if not courses.course_exists(session, course_id):
        raise courses.course_not_found()
    if not teaches(session, viewer, course_id):
        raise Forbidden("only this course's instructors may do this", code="FORBIDDEN")
    return user_id


def require_student(
    session: Session, viewer: Viewer, course_id: uuid.UUID, *, known: Standing | None = None
) -> uuid.UUID:
    user_id = require_authenticated(viewer)
    enrolled = known.enrolled if known is not None else None
    if enrolled is None:
        enrolled = enrollments.is_enrolled(session, user_id, course_id)
    if not enrolled:
        raise Forbidden("enroll in the course first", code="NOT_ENROLLED")
    return user_id


def may_read_course_work(session: Session, viewer: Viewer, course_id: uuid.UUID) -> bool:
    """Instructors, admins and enrolled students see a course's quizzes and assignments."""
    return standing(session, viewer, course_id).reads_course_work


class Standing(NamedTuple):
    """What the viewer is to one course, read once and handed along a request (a quiz's
    page and an attempt's start each asked it two to four times)."""

    teaches: bool
    enrolled: bool | None  # None: not asked (an instructor reads without it)

    @property
    def reads_course_work(self) -> bool:
        return self.teaches or bool(self.enrolled)


def standing(session: Session, viewer: Viewer, course_id: uuid.UUID) -> Standing:
    if viewer.user_id is None:
        return Standing(False, False)
    if viewer.is_admin:
        return Standing(True, None)
    teaches_it, enrolled = enrollments.relation(session, viewer.user_id, course_id)
    return Standing(teaches_it, None if teaches_it else enrolled)
