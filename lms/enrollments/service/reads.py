"""Reads: one enrollment, its per-lesson progress, the paginated lists, courses by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from lms import pagination
from lms.courses import service as courses
from lms.enrollments import progress as rules
from lms.enrollments.access import parse_id, teaches, visible_enrollment
from lms.enrollments.models import Enrollment, EnrollmentStatus
from lms.enrollments.views import (
    EnrollmentView,
    LessonProgressView,
    enrollment_view,
    enrollment_views,
    lesson_progress_view,
)
from lms.errors import Forbidden
from lms.security import Role, Viewer, require_authenticated, require_role
from lms.users.errors import UserCode


def get_enrollment(session: Session, viewer: Viewer, *, id: Any) -> EnrollmentView:
    """One enrollment, for its student, the course's instructors and admins."""
    return enrollment_view(session, visible_enrollment(session, viewer, id))


@dataclass(frozen=True)
class LessonSummary:
    lesson_id: uuid.UUID
    module_id: uuid.UUID
    title: str
    type: str
    required: bool
    locked: bool
    lock_reason: str | None
    blocking_lesson_id: uuid.UUID | None
    progress: LessonProgressView


@dataclass(frozen=True)
class ProgressSummary:
    enrollment: EnrollmentView
    lessons: list[LessonSummary]
    next_lesson_id: uuid.UUID | None


def enrollment_progress(session: Session, viewer: Viewer, *, enrollment_id: Any) -> ProgressSummary:
    """Per-lesson progress in course order, with locks and the lesson to resume."""
    enrollment = visible_enrollment(session, viewer, enrollment_id)
    lessons = courses.outline(session, enrollment.course_id)
    progress = rules.progress_by_lesson(session, enrollment.id)
    dropped = enrollment.status == EnrollmentStatus.DROPPED
    summaries = []
    next_id = None
    for index, lesson in enumerate(lessons):
        access = rules.lesson_access(lessons, index, progress, dropped=dropped)
        row = progress.get(lesson.id)
        if next_id is None and access.allowed and (row is None or not row.completed):
            next_id = lesson.id
        summaries.append(
            LessonSummary(
                lesson.id,
                lesson.module_id,
                lesson.title,
                lesson.type.value,
                lesson.required,
                not access.allowed,
                access.reason,
                access.blocking_lesson_id,
                lesson_progress_view(enrollment.id, lesson.id, row),
            )
        )
    return ProgressSummary(enrollment_view(session, enrollment), summaries, next_id)


def _status(value: Any) -> EnrollmentStatus | None:
    return None if value is None else EnrollmentStatus(value)


def _page(
    session: Session,
    name: str,
    where: list,
    *,
    status: Any,
    first: int | None,
    after: str | None,
    scope: dict[str, Any],
) -> pagination.Connection[EnrollmentView]:
    """Newest enrollments first, keyset-paginated."""
    wanted = _status(status)
    if wanted is not None:
        where = [*where, Enrollment.status == wanted]
    request = pagination.page_request(
        {"first": first, "after": after},
        query=pagination.query_key(name, {**scope, "status": wanted}),
    )
    query = select(Enrollment).where(*where)
    if request.after is not None:
        try:
            moment, last_id = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (IndexError, TypeError, ValueError):
            raise pagination.invalid_cursor("not a cursor of this list") from None
        query = query.where(
            or_(
                Enrollment.enrolled_at < moment,
                and_(Enrollment.enrolled_at == moment, Enrollment.id < last_id),
            )
        )
    rows = session.scalars(
        query.order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc()).limit(request.first + 1)
    ).all()
    total = session.scalar(select(func.count()).select_from(Enrollment).where(*where))
    views = enrollment_views(session, rows)
    return pagination.connection(
        views, request, lambda v: [v.enrolled_at.isoformat(), str(v.id)], total
    )


def my_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """The viewer's enrollments, newest first."""
    user_id = require_authenticated(viewer)
    return _page(
        session,
        "myEnrollments",
        [Enrollment.student_id == user_id],
        status=status,
        first=first,
        after=after,
        scope={"student": str(user_id)},
    )


def course_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """A course's enrollments, for its instructors and admins."""
    user_id = require_authenticated(viewer)
    course = courses.find_course(session, course_id)
    if not (viewer.is_admin or teaches(session, user_id, course.id)):
        raise Forbidden(
            "only the course's instructors and admins see its enrollments", code="FORBIDDEN"
        )
    return _page(
        session,
        "courseEnrollments",
        [Enrollment.course_id == course.id],
        status=status,
        first=first,
        after=after,
        scope={"course": str(course.id)},
    )


def student_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    student_id: Any,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """Any student's enrollments, for admins (and the student themselves)."""
    user_id = require_authenticated(viewer)
    student = parse_id(student_id, code=UserCode.USER_NOT_FOUND, what="student")
    if student != user_id:
        require_role(viewer, Role.ADMIN)
    return _page(
        session,
        "studentEnrollments",
        [Enrollment.student_id == student],
        status=status,
        first=first,
        after=after,
        scope={"student": str(student)},
    )


def courses_by_id(session: Session, viewer: Viewer, course_ids: list[uuid.UUID]) -> list:
    """Batch read for `Enrollment.course`: the course when the viewer may see it."""
    return courses.courses_by_id(session, viewer, course_ids)
