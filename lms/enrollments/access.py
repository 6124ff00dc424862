"""Who may see and change an enrollment.

- The student sees and changes their own enrollments.
- The course's instructors (owner and co-instructors) see their courses' enrollments.
- Admins see every enrollment.
Anyone else is told the enrollment does not exist (`ENROLLMENT_NOT_FOUND`), so ids reveal
nothing. Progress is recorded by the student only (`NOT_YOUR_ENROLLMENT` for the others
who may see it).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lms.courses import access as courses
from lms.enrollments.errors import EnrollmentCode
from lms.enrollments.models import Enrollment
from lms.errors import Forbidden, NotFound
from lms.security import Viewer, require_authenticated


def parse_id(value: Any, *, code: str, what: str) -> uuid.UUID:
    """A UUID from a GraphQL `ID`; anything else is simply not found."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found", code=code) from None


def enrollment_not_found() -> NotFound:
    return NotFound("enrollment not found", code=EnrollmentCode.ENROLLMENT_NOT_FOUND)


def teaches(session: Session, user_id: uuid.UUID | None, course_id: uuid.UUID) -> bool:
    return courses.teaches(session, user_id, course_id)


def is_enrolled(session: Session, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Whether `user_id` has an ACTIVE or COMPLETED enrollment in the course (for other modules)."""
    return bool(session.scalar(select(_enrolled(user_id, course_id))))


def relation(session: Session, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[bool, bool]:
    """(teaches, enrolled) for one user and course, in one statement (for other modules
    whose every request asks both: a quiz's page, an attempt's start)."""
    teaches_it = courses.teaches_clause(user_id, course_id)
    row = session.execute(select(teaches_it, _enrolled(user_id, course_id))).one()
    return bool(row[0]), bool(row[1])


def _enrolled(user_id: uuid.UUID, course_id: uuid.UUID):
    from lms.enrollments.models import EnrollmentStatus

    return exists().where(
        Enrollment.student_id == user_id,
        Enrollment.course_id == course_id,
        Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)),
    )


def enrolled_course_ids(user_id: uuid.UUID):
    """A subquery: ids of the courses `user_id` is ACTIVE or COMPLETED in (for other modules)."""
    from lms.enrollments.models import EnrollmentStatus

    return select(Enrollment.course_id).where(
        Enrollment.student_id == user_id,
        Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)),
    )


def enrolled_student_ids(session: Session, course_id: uuid.UUID) -> list[uuid.UUID]:
    """Students ACTIVE or COMPLETED in the course (announcement fan-out, for other modules)."""
    from lms.enrollments.models import EnrollmentStatus

    return list(
        session.scalars(
            select(Enrollment.student_id).where(
                Enrollment.course_id == course_id,
                Enrollment.status.in_((EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)),
            )
        )
    )


def visible_enrollment(
    session: Session, viewer: Viewer, enrollment_id: Any, *, lock: bool = False
) -> Enrollment:
    """The enrollment if `viewer` may see it (student, course instructor, admin)."""
    user_id = require_authenticated(viewer)
    key = parse_id(enrollment_id, code=EnrollmentCode.ENROLLMENT_NOT_FOUND, what="enrollment")
    query = select(Enrollment).where(Enrollment.id == key)
    if lock:
        query = query.with_for_update()
    enrollment = session.scalar(query)
    if enrollment is None:
        raise enrollment_not_found()
    if (
        viewer.is_admin
        or enrollment.student_id == user_id
        or teaches(session, user_id, enrollment.course_id)
    ):
        return enrollment
    raise enrollment_not_found()


def own_enrollment(session: Session, viewer: Viewer, enrollment_id: Any) -> Enrollment:
    """The viewer's own enrollment, locked: progress changes of one enrollment run one at a time."""
    enrollment = visible_enrollment(session, viewer, enrollment_id, lock=True)
    if enrollment.student_id != viewer.user_id:
        raise Forbidden(
            "only the enrolled student records progress", code=EnrollmentCode.NOT_YOUR_ENROLLMENT
        )
    return enrollment


def active_student_ids(session: Session, course_id: uuid.UUID) -> list[uuid.UUID]:
    """Students with an ACTIVE enrollment in the course (for other modules' notices)."""
    from lms.enrollments.models import EnrollmentStatus

    return list(
        session.scalars(
            select(Enrollment.student_id).where(
                Enrollment.course_id == course_id, Enrollment.status == EnrollmentStatus.ACTIVE
            )
        )
    )


def enrollment_id_of(
    session: Session, student_id: uuid.UUID, course_id: uuid.UUID
) -> uuid.UUID | None:
    """The student's enrollment in the course, if any (for other modules)."""
    return session.scalar(
        select(Enrollment.id).where(
            Enrollment.student_id == student_id, Enrollment.course_id == course_id
        )
    )
