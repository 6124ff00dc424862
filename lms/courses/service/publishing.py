"""Publishing: check a course's requirements, publish it or submit it for review."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.courses import rules
from lms.courses.access import editable_course
from lms.courses.catalog_version import bump_catalog_version
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseStatus
from lms.courses.publication import PublicationCheck, not_publishable, unmet_requirements
from lms.errors import Conflict, Forbidden
from lms.models import utcnow
from lms.search import service as search
from lms.security import Viewer
from lms.users import service as users
from lms.users.errors import UserCode


def require_verified_publisher(session: Session, user_id: uuid.UUID) -> None:
    """`EMAIL_NOT_VERIFIED` unless the user has verified their email address (Users module)."""
    if not users.email_verified(session, user_id):
        raise Forbidden(
            "verify your email address before publishing a course", code=UserCode.EMAIL_NOT_VERIFIED
        )


def validate_course_publication(session: Session, viewer: Viewer, *, id: Any) -> PublicationCheck:
    """Every unmet publication requirement of a course, at once."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )
    return PublicationCheck(course.id, unmet_requirements(session, course))


def publish_course(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """Publish (or submit for review, when configured) a complete course; admins approve reviews."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )
    if course.status == CourseStatus.PUBLISHED:
        return course  # publishing twice is harmless: a retried request must not fail
    if course.status == CourseStatus.PENDING_REVIEW and not viewer.is_admin:
        raise Conflict(
            "the course is waiting for an admin's review", code=CourseCode.AWAITING_REVIEW
        )
    unmet = unmet_requirements(session, course)
    if unmet:
        raise not_publishable(unmet)
    now = utcnow()
    if not viewer.is_admin:
        require_verified_publisher(session, viewer.user_id)
    if get_settings().course_review_required and not viewer.is_admin:
        course.status, course.submitted_at = CourseStatus.PENDING_REVIEW, now
    else:
        course.status = CourseStatus.PUBLISHED
        course.published_at = course.published_at or now
        course.archived_at = None
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    course.updated_at = now
    return course
