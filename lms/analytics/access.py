"""Who may see which analytics.

- A course's analytics: its instructors and admins (another educator's course answers
  COURSE_ANALYTICS_FORBIDDEN; a course the viewer cannot see at all, COURSE_NOT_FOUND).
- A student's analytics: the student, admins, and instructors of the student's courses,
  who see those courses only. Anyone else: STUDENT_ANALYTICS_FORBIDDEN.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.analytics.models import CourseStudent
from lms.analytics.errors import (
    CourseAnalyticsForbidden,
    DateRangeTooLong,
    InvalidDateRange,
    StudentAnalyticsForbidden,
)
from lms.analytics.settings import analytics_settings
from lms.courses.access import (
    course_not_found,
    instructed_course_ids,
    visible_course_and_teaching,
)
from lms.errors import NotFound
from lms.models import utcnow
from lms.security import Viewer, require_authenticated


def parse_uuid(value: Any, error: Exception) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise error from None


def course_for_analytics(session: Session, viewer: Viewer, course_id: Any):
    """The course (for its title) when the viewer may read its analytics."""
    require_authenticated(viewer)
    course_uuid = parse_uuid(course_id, course_not_found())
    course, teaching = visible_course_and_teaching(session, viewer, course_uuid)
    if not teaching:
        raise CourseAnalyticsForbidden("only the course's instructors and admins see its analytics")
    return course


def student_scope(session: Session, viewer: Viewer, user_id: Any) -> tuple[uuid.UUID, Any]:
    """(student id, course filter): None for every course, else a subquery of course ids."""
    me = require_authenticated(viewer)
    student = parse_uuid(user_id, NotFound("user not found", code="USER_NOT_FOUND"))
    if viewer.is_admin or student == me:
        return student, None
    taught = instructed_course_ids(me)
    shared = session.scalar(
        select(CourseStudent.course_id)
        .where(CourseStudent.user_id == student, CourseStudent.course_id.in_(taught))
        .limit(1)
    )
    if shared is None:
        raise StudentAnalyticsForbidden("a student's analytics are theirs (and their teachers')")
    return student, taught


def taught_courses(viewer: Viewer):
    """A subquery of the courses the viewer teaches (None for admins: every course)."""
    if viewer.is_admin:
        return None
    return instructed_course_ids(require_authenticated(viewer))


def date_range(value: dict | None, *, default_days: int = 30) -> tuple[date, date]:
    """Inclusive first and last day of a `DateRangeInput`, checked."""
    if not value:
        today = utcnow().date()
        return today - timedelta(days=default_days - 1), today
    start, end = value.get("start_date"), value.get("end_date")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise InvalidDateRange("a date range needs startDate and endDate", field="dateRange")
    if end < start:
        raise InvalidDateRange("endDate must not be before startDate", field="dateRange")
    first, last = start.date(), end.date()
    limit = analytics_settings().max_range_days
    if (last - first).days + 1 > limit:
        raise DateRangeTooLong(f"a date range covers at most {limit} days", field="dateRange")
    return first, last
