"""Reading courses: one by id or by its current or any former slug, and what other modules
read of many (titles, slugs, instructors' names) without touching the courses' tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.access import visible_clause, visible_course
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseInstructor
from lms.courses.slugs import course_id_for_slug
from lms.errors import NotFound
from lms.security import Viewer
from lms.users.service import user_names


def get_course(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """One course by id, if the viewer may see it."""
    return visible_course(
        session, viewer, rules.parse_id(id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )


def get_course_by_slug(session: Session, viewer: Viewer, *, slug: str) -> Course:
    """One course by its current or any former slug (old links keep working)."""
    course_id = course_id_for_slug(session, slug)
    if course_id is None:
        raise NotFound("course not found", code=CourseCode.COURSE_NOT_FOUND)
    return visible_course(session, viewer, course_id)


def course_titles(session: Session, course_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Titles of many courses, whoever may see them (for other modules' views; one read)."""
    ids = set(course_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Course.id, Course.title).where(Course.id.in_(ids))).all())


def courses_by_id(
    session: Session, viewer: Viewer, course_ids: list[uuid.UUID]
) -> list[Course | None]:
    """Batch read for other modules' `course` fields: each course when the viewer may see it."""
    rows = session.scalars(select(Course).where(Course.id.in_(course_ids), visible_clause(viewer)))
    found = {course.id: course for course in rows}
    return [found.get(key) for key in course_ids]


def course_slugs(session: Session, course_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Slugs of many courses, whoever may see them (certificate file names; one read)."""
    ids = set(course_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Course.id, Course.slug).where(Course.id.in_(ids))).all())


def find_course(session: Session, course_id: Any, *, lock: bool = False) -> Course:
    """One course by id whatever its status (`COURSE_NOT_FOUND` when there is none), for
    modules that explain why it is closed to them (enrolling, buying); `lock` holds its row
    until the transaction ends, so seats are counted one enrollment at a time."""
    key = rules.parse_id(course_id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    query = select(Course).where(Course.id == key)
    course = session.scalar(query.with_for_update() if lock else query)
    if course is None:
        raise NotFound("course not found", code=CourseCode.COURSE_NOT_FOUND)
    return course


def instructor_names(session: Session, course_id: uuid.UUID) -> list[str]:
    """The course's instructors' names, owner first, then in the order they were added."""
    names = user_names()
    return list(
        session.scalars(
            select(names.c.name)
            .join(CourseInstructor, CourseInstructor.user_id == names.c.id)
            .where(CourseInstructor.course_id == course_id)
            .order_by(CourseInstructor.role.desc(), CourseInstructor.added_at)
        )
    )
