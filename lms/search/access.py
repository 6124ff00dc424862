"""Who may find a lesson by its text: the same readers as the lesson's content (free
previews for everyone; the rest for enrolled students, the course's instructors and
admins). Anyone may find a lesson of a published course by its title, as the course's
outline shows it to everyone."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from lms.courses.access import instructed_course_ids
from lms.enrollments.access import enrolled_course_ids, is_enrolled, teaches
from lms.search.models import SearchLesson
from lms.security import Viewer


def readable_clause(
    session: Session, viewer: Viewer, course_id: uuid.UUID | None
) -> ColumnElement[bool]:
    """SQL condition on `search_lessons`: lessons whose text `viewer` may read."""
    if viewer.is_admin:
        return true()
    preview = SearchLesson.is_free_preview.is_(True)
    if viewer.user_id is None:
        return preview
    if course_id is not None:  # one course: decide once instead of per row
        if teaches(session, viewer.user_id, course_id) or is_enrolled(
            session, viewer.user_id, course_id
        ):
            return true()
        return preview
    return (
        preview
        | SearchLesson.course_id.in_(instructed_course_ids(viewer.user_id))
        | SearchLesson.course_id.in_(enrolled_course_ids(viewer.user_id))
    )
