"""Discovery: `courses` (the catalog) and `myCourses` (an educator's own), as cursor connections.

One statement for the page (keyset: `WHERE (sort_key, id) < cursor ORDER BY sort_key, id
LIMIT first + 1`) and, only when asked for, one for `totalCount`. Nested data (instructors,
modules, lessons, counts) comes from the per-request dataloaders, not from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from lms.courses import rules
from lms.courses.access import PUBLIC_STATUSES, instructed_clause
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseInstructor, CourseStatus, CourseTag, Difficulty
from lms.errors import ValidationFailed
from lms.pagination import Connection, connection, invalid_cursor, page_request, query_key
from lms.sanitize import plain_text
from lms.security import Role, Viewer, require_role

SEARCH_MAX = 200


@dataclass(frozen=True)
class Sort:
    column: InstrumentedAttribute
    descending: bool

    def key(self, course: Course) -> list[Any]:
        value = getattr(course, self.column.key)
        return [value.isoformat() if isinstance(value, datetime) else value, str(course.id)]

    def parse(self, key: list[Any]) -> tuple[Any, uuid.UUID]:
        """A cursor's key back into column values (cursors are signed: a failure is a bug or
        a cursor from an older release)."""
        try:
            value, course_id = key
            if self.column.key == "created_at":
                value = datetime.fromisoformat(value)
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(value)
            return value, uuid.UUID(course_id)
        except (TypeError, ValueError):
            raise invalid_cursor("cursor does not fit this sort order") from None


SORTS = {
    "NEWEST": Sort(Course.created_at, True),
    "POPULARITY": Sort(Course.enrollment_count, True),
    "RATING": Sort(Course.rating_average, True),
    "PRICE_LOW_TO_HIGH": Sort(Course.price_amount, False),
    "PRICE_HIGH_TO_LOW": Sort(Course.price_amount, True),
}


def _filters(viewer: Viewer, filter: dict[str, Any], *, mine: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    status = CourseStatus(filter["status"]) if filter.get("status") else None
    if mine:
        # Educators see their own courses; "mine" means the same for an admin.
        conditions.append(
            Course.id.in_(
                select(CourseInstructor.course_id).where(CourseInstructor.user_id == viewer.user_id)
            )
        )
        if status is not None:
            conditions.append(Course.status == status)
    else:
        status = status or CourseStatus.PUBLISHED
        conditions.append(Course.status == status)
        if status not in PUBLIC_STATUSES:
            conditions.append(instructed_clause(viewer))
    if filter.get("search"):
        term = plain_text(filter["search"])[:SEARCH_MAX].lower()
        if term:
            conditions.append(
                func.lower(Course.title).contains(term, autoescape=True)
                | func.lower(Course.description).contains(term, autoescape=True)
            )
    if filter.get("category"):
        conditions.append(Course.category == plain_text(filter["category"]))
    if filter.get("difficulty"):
        conditions.append(Course.difficulty == Difficulty(filter["difficulty"]))
    if filter.get("language"):
        conditions.append(Course.language == filter["language"].strip())
    if filter.get("tag"):
        conditions.append(
            Course.id.in_(
                select(CourseTag.course_id).where(
                    CourseTag.tag == plain_text(filter["tag"]).lower()
                )
            )
        )
    if filter.get("instructor_id"):
        try:
            instructor = uuid.UUID(str(filter["instructor_id"]))
        except ValueError:
            raise rules.invalid(
                CourseCode.INVALID_ID, "instructorId is not an id", "instructorId"
            ) from None
        conditions.append(
            Course.id.in_(
                select(CourseInstructor.course_id).where(CourseInstructor.user_id == instructor)
            )
        )
    if filter.get("is_free") is not None:
        conditions.append(
            Course.price_amount == 0 if filter["is_free"] else Course.price_amount > 0
        )
    low, high = filter.get("min_price"), filter.get("max_price")
    if low is not None and high is not None and low > high:
        raise ValidationFailed(
            "minPrice is above maxPrice", code=CourseCode.INVALID_PRICE_RANGE, field="minPrice"
        )
    if low is not None:
        conditions.append(Course.price_amount >= low)
    if high is not None:
        conditions.append(Course.price_amount <= high)
    if filter.get("currency"):
        conditions.append(Course.currency == filter["currency"].strip().upper())
    return conditions


def _list(
    session: Session,
    viewer: Viewer,
    name: str,
    filter: dict[str, Any] | None,
    pagination: dict[str, Any] | None,
    with_total: bool,
    *,
    mine: bool,
) -> Connection[Course]:
    # Normalized before fingerprinting: an explicit default is the same query as none.
    filter = {key: value for key, value in (filter or {}).items() if value is not None}
    filter.setdefault("sort", "NEWEST")
    sort = SORTS[filter["sort"]]
    request = page_request(pagination, query=query_key(name, filter))
    conditions = _filters(viewer, filter, mine=mine)
    order = (
        (sort.column.desc(), Course.id.desc())
        if sort.descending
        else (sort.column.asc(), Course.id.asc())
    )
    query = select(Course).where(*conditions).order_by(*order).limit(request.first + 1)
    if request.after is not None:
        position = tuple_(sort.column, Course.id)
        after = tuple_(*sort.parse(request.after))
        query = query.where(position < after if sort.descending else position > after)
    rows = session.scalars(query).all()
    total = (
        session.scalar(select(func.count()).select_from(Course).where(and_(*conditions)))
        if with_total
        else None
    )
    return connection(rows, request, sort.key, total)


def list_courses(
    session: Session,
    viewer: Viewer,
    *,
    filter: dict[str, Any] | None = None,
    pagination: dict[str, Any] | None = None,
    with_total: bool = True,
) -> Connection[Course]:
    """The catalog: published courses (other statuses for their instructors and admins)."""
    return _list(session, viewer, "courses", filter, pagination, with_total, mine=False)


def list_my_courses(
    session: Session,
    viewer: Viewer,
    *,
    filter: dict[str, Any] | None = None,
    pagination: dict[str, Any] | None = None,
    with_total: bool = True,
) -> Connection[Course]:
    """The courses the calling educator teaches, in every status."""
    require_role(viewer, Role.EDUCATOR, Role.ADMIN)
    return _list(session, viewer, "myCourses", filter, pagination, with_total, mine=True)
