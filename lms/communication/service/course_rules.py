"""A course's own messaging rule: whether its students may write to classmates (direct
messages and starting groups). Instructors set it; without it the course follows the
deployment's `LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.communication import access, errors
from lms.communication.models import CourseMessaging
from lms.communication.settings import communication_settings
from lms.models import utcnow
from lms.security import Viewer


def course_messaging_settings(session: Session, viewer: Viewer, *, course_id: Any) -> dict:
    """Members of the course read its rule."""
    access.require_member(session, viewer, course_id)
    return _view(session, access.parse_uuid(course_id, errors.NotCourseMember, "course"))


def update_course_messaging_settings(
    session: Session, viewer: Viewer, *, course_id: Any, students_may_message_classmates: Any
) -> dict:
    """Instructors set the course's rule; null returns it to the deployment's default."""
    access.require_moderator(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    own = session.get(CourseMessaging, course, with_for_update=True)
    if students_may_message_classmates is None:
        if own is not None:
            session.delete(own)
    else:
        if own is None:
            own = CourseMessaging(course_id=course)
            session.add(own)
        own.students_may_message_classmates = bool(students_may_message_classmates)
        own.updated_by_id, own.updated_at = viewer.user_id, utcnow()
    session.flush()
    return _view(session, course)


def _view(session: Session, course) -> dict[str, Any]:
    default = communication_settings().students_may_message_classmates
    return {
        "courseId": str(course),
        "studentsMayMessageClassmates": access.classmates_allowed(session, course, default),
        "followsDefault": session.get(CourseMessaging, course) is None,
    }
