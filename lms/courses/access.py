"""Who may see and change a course.

- Everyone sees PUBLISHED courses; the other statuses only their instructors and admins
  (invisible courses answer "not found", so ids of drafts reveal nothing).
- The course's instructors (owner and co-instructors) and admins change its content and
  publish it; only the owner and admins delete it or change its instructors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.orm import Session

from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseInstructor, CourseStatus, InstructorRole
from lms.errors import Forbidden, NotFound
from lms.security import Viewer, require_authenticated

PUBLIC_STATUSES = frozenset({CourseStatus.PUBLISHED})


def instructed_course_ids(user_id: uuid.UUID):
    """A subquery: ids of the courses `user_id` teaches."""
    return select(CourseInstructor.course_id).where(CourseInstructor.user_id == user_id)


def visible_clause(viewer: Viewer) -> ColumnElement[bool]:
    """SQL condition: courses `viewer` may see."""
    if viewer.is_admin:
        return true()
    public = Course.status.in_(PUBLIC_STATUSES)
    if viewer.user_id is None:
        return public
    return or_(public, Course.id.in_(instructed_course_ids(viewer.user_id)))


def instructed_clause(viewer: Viewer) -> ColumnElement[bool]:
    """SQL condition: courses `viewer` teaches (all of them for admins, none for anonymous)."""
    if viewer.is_admin:
        return true()
    if viewer.user_id is None:
        return false()
    return Course.id.in_(instructed_course_ids(viewer.user_id))


def can_edit(viewer: Viewer, instructor_ids: Iterable[uuid.UUID]) -> bool:
    return viewer.is_admin or (viewer.user_id is not None and viewer.user_id in set(instructor_ids))


def course_not_found() -> NotFound:
    return NotFound("course not found", code=CourseCode.COURSE_NOT_FOUND)


def visible_course(session: Session, viewer: Viewer, course_id: uuid.UUID) -> Course:
    """The course if `viewer` may see it; `COURSE_NOT_FOUND` otherwise (one statement)."""
    course = session.scalar(select(Course).where(Course.id == course_id, visible_clause(viewer)))
    if course is None:
        raise course_not_found()
    return course


def visible_course_and_teaching(
    session: Session, viewer: Viewer, course_id: uuid.UUID
) -> tuple[Course, bool]:
    """The course if `viewer` may see it, and whether they teach it (admins: True), in one
    statement; `COURSE_NOT_FOUND` otherwise."""
    row = session.execute(
        select(Course, instructed_clause(viewer)).where(
            Course.id == course_id, visible_clause(viewer)
        )
    ).first()
    if row is None:
        raise course_not_found()
    return row[0], bool(row[1])


def editable_course(
    session: Session, viewer: Viewer, course_id: uuid.UUID, *, owner_only: bool = False
) -> Course:
    """The course, locked for this transaction, if `viewer` may change it.

    The row lock (PostgreSQL) serializes concurrent structure changes of one course, so two
    `addModule` calls cannot take the same position.
    """
    user_id = require_authenticated(viewer)
    course = session.scalar(select(Course).where(Course.id == course_id).with_for_update())
    if course is None:
        raise course_not_found()
    if viewer.is_admin:
        return course
    role = session.scalar(
        select(CourseInstructor.role).where(
            CourseInstructor.course_id == course_id, CourseInstructor.user_id == user_id
        )
    )
    if role is None:
        if course.status not in PUBLIC_STATUSES:
            raise course_not_found()  # a stranger's draft stays invisible
        raise Forbidden("only this course's instructors may change it", code="FORBIDDEN")
    if owner_only and role != InstructorRole.OWNER:
        raise Forbidden("only the course's owner may do this", code="FORBIDDEN")
    return course


def lesson_course_id(session: Session, lesson_id: uuid.UUID) -> uuid.UUID | None:
    """The course a lesson belongs to, or None (for modules that attach work to lessons)."""
    from lms.courses.models import Lesson

    return session.scalar(select(Lesson.course_id).where(Lesson.id == lesson_id))


def teaches(session: Session, user_id: uuid.UUID | None, course_id: uuid.UUID) -> bool:
    """Whether the user is one of the course's instructors (for other modules)."""
    if user_id is None:
        return False
    return bool(session.scalar(select(teaches_clause(user_id, course_id))))


def teaches_clause(user_id: uuid.UUID, course_id: uuid.UUID) -> ColumnElement[bool]:
    """`EXISTS` (the user is one of the course's instructors), for a statement of another
    module that asks it with its own questions."""
    return exists().where(
        CourseInstructor.course_id == course_id, CourseInstructor.user_id == user_id
    )


def teaches_or_owns(
    session: Session, user_id: uuid.UUID | None, course_id: uuid.UUID | None
) -> bool:
    """Whether the user is one of the course's instructors or its owner (for other modules)."""
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


def course_exists(session: Session, course_id: uuid.UUID) -> bool:
    return session.get(Course, course_id) is not None


def lesson_in_course(session: Session, lesson_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Whether the lesson belongs to the course (for other modules' references to lessons)."""
    from lms.courses.models import Lesson

    return (
        session.scalar(
            select(Lesson.id).where(Lesson.id == lesson_id, Lesson.course_id == course_id)
        )
        is not None
    )
