"""Who may do what in Communication.

- A course's forum, announcements and presence: its members only (enrolled students, its
  instructors) and admins. Instructors (and admins) moderate: pin, lock, close, endorse,
  decide on flagged posts, write announcements.
- Messages: students write to their courses' instructors and, when allowed
  (`LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES`), to classmates; instructors to anyone
  in their courses; admins to anyone; anyone answers someone who wrote to them. A block
  (either way) stops it. A group conversation keeps to one course's members. A course's
  instructors may set its own classmates rule (`updateCourseMessagingSettings`).
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import exists, literal, or_, select, true
from sqlalchemy.orm import Session

from lms.communication.errors import NotCourseMember
from lms.communication.models import CourseMessaging
from lms.courses import access as courses
from lms.enrollments import access as enrollments
from lms.security import Viewer, require_authenticated


class CourseRole(enum.StrEnum):
    STUDENT = "STUDENT"
    INSTRUCTOR = "INSTRUCTOR"
    ADMIN = "ADMIN"


def parse_uuid(value: Any, error: type[Exception], what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise error(f"{what} not found") from None


def course_role(session: Session, viewer: Viewer, course_id: uuid.UUID) -> CourseRole | None:
    if viewer.is_admin:  # of every course there is, and of no other
        return CourseRole.ADMIN if courses.course_exists(session, course_id) else None
    if viewer.user_id is None:
        return None
    if enrollments.teaches(session, viewer.user_id, course_id):
        return CourseRole.INSTRUCTOR
    if enrollments.is_enrolled(session, viewer.user_id, course_id):
        return CourseRole.STUDENT
    return None


def require_member(session: Session, viewer: Viewer, course_id: Any) -> CourseRole:
    """The viewer's role in the course; `NOT_COURSE_MEMBER` for everyone else (a course id
    that does not exist answers the same)."""
    require_authenticated(viewer)
    key = parse_uuid(course_id, NotCourseMember, "course")
    role = course_role(session, viewer, key)
    if role is None:
        raise NotCourseMember("only members of the course may do this")
    return role


def moderates(role: CourseRole | None) -> bool:
    return role in (CourseRole.INSTRUCTOR, CourseRole.ADMIN)


def require_moderator(session: Session, viewer: Viewer, course_id: Any) -> CourseRole:
    role = require_member(session, viewer, course_id)
    if not moderates(role):
        raise NotCourseMember("only the course's instructors may do this", code="FORBIDDEN")
    return role


def _both(first, second):
    """SQL: the two course-id subqueries share a course."""
    return exists(select(literal(1)).select_from(first.intersect(second).subquery()))


def shares_course_clause(sender: Viewer, recipient_id: uuid.UUID, *, classmates: bool):
    """SQL: the sender's role and courses let them start a conversation with the recipient
    (selected with the block check, so a first message costs one query for both).
    `classmates` is the deployment's default for courses that set no rule of their own."""
    if sender.is_admin:
        return true()
    return courses_let_write(require_authenticated(sender), recipient_id, classmates=classmates)


def courses_let_write(me, recipient_id, *, classmates: bool):
    """SQL: a non-admin sender's courses let them write to the recipient. The two ids may
    be values or bound parameters (a statement built once, `messaging.allowed_check`)."""
    taught, enrolled = courses.instructed_course_ids, enrollments.enrolled_course_ids
    rules = [
        _both(taught(me), enrolled(recipient_id)),  # an instructor writes to a student
        _both(taught(me), taught(recipient_id)),  # to a fellow instructor
        _both(enrolled(me), taught(recipient_id)),  # a student to an instructor
        _classmates(enrolled(me), enrolled(recipient_id), classmates),  # where allowed
    ]
    return or_(*rules)


def _classmates(mine, theirs, default: bool):
    """SQL: the two share a course whose rule (or the default) lets students write to
    classmates."""
    course = mine.selected_columns[0]
    shared = mine.where(course.in_(theirs))
    if default:
        refused = select(CourseMessaging.course_id).where(
            CourseMessaging.students_may_message_classmates.is_(False)
        )
        shared = shared.where(course.not_in(refused))
    else:
        allowed = select(CourseMessaging.course_id).where(
            CourseMessaging.students_may_message_classmates.is_(True)
        )
        shared = shared.where(course.in_(allowed))
    return shared.exists()


def classmates_allowed(session: Session, course_id: uuid.UUID, default: bool) -> bool:
    """The course's rule for students writing to classmates, else the deployment's default."""
    own = session.get(CourseMessaging, course_id)
    return default if own is None else own.students_may_message_classmates


def member_viewer(user_id: uuid.UUID) -> Viewer:
    """Someone other than the caller, judged by courses alone (their role is not needed)."""
    return Viewer(user_id, None)
