"""What enrolling asks of a course: is it open, which prerequisites are still missing, and
its seat counter (the courses' rows change only here, never in the enrollments module)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lms.courses.access import PUBLIC_STATUSES
from lms.courses.models import Course, CoursePrerequisite


def open_for_enrollment(course: Course) -> bool:
    return course.status in PUBLIC_STATUSES


def missing_prerequisites(
    session: Session, course_id: uuid.UUID, completed: Select
) -> list[tuple[uuid.UUID, str]]:
    """Id and title of each prerequisite of the course that is not among `completed` (the
    caller's subquery of the student's completed course ids), by title; one statement."""
    return [
        (row.id, row.title)
        for row in session.execute(
            select(Course.id, Course.title)
            .join(CoursePrerequisite, CoursePrerequisite.prerequisite_id == Course.id)
            .where(CoursePrerequisite.course_id == course_id, ~Course.id.in_(completed))
            .order_by(Course.title)
        )
    ]


def count_enrollment(course: Course) -> None:
    """One more student took a seat (the course's row is locked by `find_course(lock=True)`)."""
    course.enrollment_count += 1
