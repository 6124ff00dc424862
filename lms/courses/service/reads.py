"""Reading one course: by id, or by its current or any former slug."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.access import visible_course
from lms.courses.models import Course
from lms.courses.slugs import course_id_for_slug
from lms.errors import NotFound
from lms.security import Viewer


def get_course(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """One course by id, if the viewer may see it."""
    return visible_course(
        session, viewer, rules.parse_id(id, code="COURSE_NOT_FOUND", what="course")
    )


def get_course_by_slug(session: Session, viewer: Viewer, *, slug: str) -> Course:
    """One course by its current or any former slug (old links keep working)."""
    course_id = course_id_for_slug(session, slug)
    if course_id is None:
        raise NotFound("course not found", code="COURSE_NOT_FOUND")
    return visible_course(session, viewer, course_id)
