"""Courses: create a draft, change its details, delete it (or archive one with enrollments)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.courses import cover, rules
from lms.courses.access import editable_course, visible_clause
from lms.courses.catalog_version import bump_catalog_version
from lms.courses.errors import CourseCode
from lms.courses.models import (
    Course,
    CourseInstructor,
    CoursePrerequisite,
    CourseStatus,
    CourseTag,
    CoverStatus,
    Difficulty,
    InstructorRole,
)
from lms.courses.slugs import available_slug, change_slug, checked_slug, course_id_for_slug
from lms.errors import Conflict
from lms.jobs.service import enqueue
from lms.models import new_id, utcnow
from lms.search import service as search
from lms.security import Role, Viewer, require_role
from lms.users import service as users


RESIZE_COVER_JOB = "courses.resize_cover"
DELETE_STORAGE_JOB = "courses.delete_storage"


# Status changes an instructor asks for through updateCourse; publishing has its own mutation.
MANUAL_TRANSITIONS = {
    (CourseStatus.PENDING_REVIEW, CourseStatus.DRAFT),  # withdraw (or an admin sends it back)
    (CourseStatus.DRAFT, CourseStatus.ARCHIVED),
    (CourseStatus.PUBLISHED, CourseStatus.ARCHIVED),
}


def create_course(session: Session, viewer: Viewer, *, data: dict[str, Any]) -> Course:
    """Create a draft course owned by the calling educator."""
    owner_id = require_role(viewer, Role.EDUCATOR)
    title = rules.title(data.get("title"))
    course = Course(
        id=new_id(),
        title=title,
        slug=_requested_slug(session, data.get("slug")) or available_slug(session, title),
        description=rules.rich(data.get("description"), field="description"),
        category=rules.category(data.get("category")),
        difficulty=Difficulty(data.get("difficulty") or Difficulty.BEGINNER),
        language=rules.language(data.get("language") or "en"),
        price_amount=rules.price_amount(data.get("price_amount") or 0),
        currency=rules.currency(data.get("currency") or "USD"),
        enrollment_limit=rules.enrollment_limit(data.get("enrollment_limit")),
        owner_id=owner_id,
        status=CourseStatus.DRAFT,
        cover_variants=[],
        created_at=utcnow(),
    )
    course.updated_at = course.created_at
    session.add(course)
    session.add(CourseInstructor(course_id=course.id, user_id=owner_id, role=InstructorRole.OWNER))
    session.flush()
    _set_tags(session, course, rules.tags(data.get("tags")))
    if data.get("prerequisite_ids"):
        _set_prerequisites(session, viewer, course, data["prerequisite_ids"])
    if data.get("co_instructor_ids"):
        _set_co_instructors(session, course, data["co_instructor_ids"])
    if data.get("cover_image_data_url"):
        _set_cover(session, viewer, course, data["cover_image_data_url"])
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    return course


def _requested_slug(session: Session, value: str | None) -> str | None:
    if value is None:
        return None
    slug = checked_slug(value)
    if course_id_for_slug(session, slug) is not None:
        raise Conflict(f"the slug {slug!r} is taken", code=CourseCode.SLUG_TAKEN, field="slug")
    return slug


def update_course(session: Session, viewer: Viewer, *, id: Any, data: dict[str, Any]) -> Course:
    """Change a course's details; instructors and admins only."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )
    if "title" in data:
        course.title = rules.title(data["title"])
        # The slug follows the title only while the course has never been public.
        if "slug" not in data and course.published_at is None:
            change_slug(session, course, available_slug(session, course.title, course.id))
    if data.get("slug") is not None:
        change_slug(session, course, checked_slug(data["slug"]))
    if "description" in data:
        course.description = rules.rich(data["description"], field="description")
    if "category" in data:
        course.category = rules.category(data["category"])
    if data.get("difficulty") is not None:
        course.difficulty = Difficulty(data["difficulty"])
    if data.get("language") is not None:
        course.language = rules.language(data["language"])
    if data.get("price_amount") is not None:
        course.price_amount = rules.price_amount(data["price_amount"])
    if data.get("currency") is not None:
        course.currency = rules.currency(data["currency"])
    if "enrollment_limit" in data:
        course.enrollment_limit = rules.enrollment_limit(data["enrollment_limit"])
    if data.get("tags") is not None:
        _set_tags(session, course, rules.tags(data["tags"]))
    if data.get("prerequisite_ids") is not None:
        _set_prerequisites(session, viewer, course, data["prerequisite_ids"])
    if data.get("co_instructor_ids") is not None:
        editable_course(session, viewer, course.id, owner_only=True)
        _set_co_instructors(session, course, data["co_instructor_ids"])
    if "cover_image_data_url" in data:
        _set_cover(session, viewer, course, data["cover_image_data_url"])
    if data.get("status") is not None:
        _change_status(course, CourseStatus(data["status"]))
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course


def _change_status(course: Course, target: CourseStatus) -> None:
    if target == course.status:
        return
    if target in (CourseStatus.PUBLISHED, CourseStatus.PENDING_REVIEW):
        raise Conflict(
            "use publishCourse to publish or submit a course for review",
            code=CourseCode.INVALID_STATUS_TRANSITION,
        )
    if (course.status, target) not in MANUAL_TRANSITIONS:
        raise Conflict(
            f"a {course.status.value} course cannot become {target.value}",
            code=CourseCode.INVALID_STATUS_TRANSITION,
            fromStatus=course.status.value,
            toStatus=target.value,
        )
    course.status = target
    if target == CourseStatus.ARCHIVED:
        course.archived_at = utcnow()


def _set_tags(session: Session, course: Course, tags: list[str]) -> None:
    session.execute(delete(CourseTag).where(CourseTag.course_id == course.id))
    session.add_all(CourseTag(course_id=course.id, tag=tag) for tag in tags)


def _set_prerequisites(
    session: Session, viewer: Viewer, course: Course, raw_ids: list[Any]
) -> None:
    ids = rules.id_list(raw_ids, field="prerequisiteIds", maximum=rules.PREREQUISITES_MAX)
    if course.id in ids:
        raise rules.invalid(
            CourseCode.PREREQUISITE_CYCLE, "a course cannot require itself", "prerequisiteIds"
        )
    found = set(
        session.scalars(select(Course.id).where(Course.id.in_(ids), visible_clause(viewer)))
    )
    missing = [str(key) for key in ids if key not in found]
    if missing:
        raise rules.invalid(
            CourseCode.PREREQUISITE_NOT_FOUND,
            "prerequisite course(s) not found",
            "prerequisiteIds",
            missingIds=missing,
        )
    if _reaches(session, ids, course.id):
        raise rules.invalid(
            CourseCode.PREREQUISITE_CYCLE,
            "these prerequisites would make courses require each other",
            "prerequisiteIds",
        )
    session.execute(delete(CoursePrerequisite).where(CoursePrerequisite.course_id == course.id))
    session.add_all(CoursePrerequisite(course_id=course.id, prerequisite_id=key) for key in ids)


def _reaches(session: Session, starts: list[uuid.UUID], target: uuid.UUID) -> bool:
    """Whether `target` is among the (transitive) prerequisites of `starts`; one query per level."""
    seen: set[uuid.UUID] = set()
    frontier = set(starts)
    while frontier:
        if target in frontier:
            return True
        seen |= frontier
        frontier = (
            set(
                session.scalars(
                    select(CoursePrerequisite.prerequisite_id).where(
                        CoursePrerequisite.course_id.in_(frontier)
                    )
                )
            )
            - seen
        )
    return False


def _set_co_instructors(session: Session, course: Course, raw_ids: list[Any]) -> None:
    ids = [
        key
        for key in rules.id_list(raw_ids, field="coInstructorIds", maximum=rules.CO_INSTRUCTORS_MAX)
        if key != course.owner_id
    ]
    educators = users.educators_among(session, ids)
    invalid = [str(key) for key in ids if key not in educators]
    if invalid:
        raise rules.invalid(
            CourseCode.INVALID_INSTRUCTOR,
            "co-instructors must be educators",
            "coInstructorIds",
            invalidIds=invalid,
        )
    session.execute(
        delete(CourseInstructor).where(
            CourseInstructor.course_id == course.id,
            CourseInstructor.role == InstructorRole.CO_INSTRUCTOR,
        )
    )
    session.add_all(
        CourseInstructor(course_id=course.id, user_id=key, role=InstructorRole.CO_INSTRUCTOR)
        for key in ids
    )


def _set_cover(session: Session, viewer: Viewer, course: Course, data_url: str | None) -> None:
    """Check an uploaded cover now; the variants are made by a job. Null removes the cover."""
    settings = get_settings()
    previous = course.cover_version
    if data_url is None:
        course.cover_version = previous + 1  # any running resize of the old one is discarded
        course.cover_status, course.cover_variants, course.cover_error = None, [], None
        enqueue(
            session,
            DELETE_STORAGE_JOB,
            {"course_id": str(course.id), "cover_versions_below": previous + 1},
            subject=("course", str(course.id)),
            requested_by_id=viewer.user_id,
        )
        return
    data = rules.data_url(data_url)
    cover.check_image(data)
    course.cover_version = previous + 1
    cover.save_original(settings, course.id, course.cover_version, data)
    # The old variants stay visible until the new ones are ready.
    course.cover_status, course.cover_error = CoverStatus.PROCESSING, None
    enqueue(
        session,
        RESIZE_COVER_JOB,
        {"course_id": str(course.id), "version": course.cover_version},
        subject=("course", str(course.id)),
        requested_by_id=viewer.user_id,
    )


@dataclass(frozen=True)
class DeleteCourseResult:
    course_id: uuid.UUID
    outcome: str  # DELETED or ARCHIVED
    course: Course | None


def has_enrollments(course: Course) -> bool:
    """Whether students are (or were) enrolled: the Enrollments module keeps the counter."""
    return course.enrollment_count > 0


def delete_course(session: Session, viewer: Viewer, *, id: Any) -> DeleteCourseResult:
    """Delete a course without enrollments (files by a job); archive one with enrollments."""
    course = editable_course(
        session,
        viewer,
        rules.parse_id(id, code=CourseCode.COURSE_NOT_FOUND, what="course"),
        owner_only=True,
    )
    if has_enrollments(course):
        # Students keep their progress and certificates: the course leaves the catalog only.
        if course.status != CourseStatus.ARCHIVED:
            course.status, course.archived_at = CourseStatus.ARCHIVED, utcnow()
            course.updated_at = course.archived_at
        bump_catalog_version(session)  # cached anonymous catalog responses are stale now
        search.request_reindex(session, course.id)  # search documents follow it
        return DeleteCourseResult(course.id, "ARCHIVED", course)
    # Modules, lessons, instructors, tags, prerequisites, slug history: ON DELETE CASCADE.
    session.execute(delete(Course).where(Course.id == course.id))
    enqueue(
        session,
        DELETE_STORAGE_JOB,
        {"course_id": str(course.id)},
        subject=("course", str(course.id)),
        requested_by_id=viewer.user_id,
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    return DeleteCourseResult(course.id, "DELETED", None)
