"""Course, module and lesson operations: validate, authorize, change; never commit.

Inputs are the GraphQL input objects as dicts with snake_case keys. In updates, a key
that is absent leaves the value alone and a key sent as null clears it (where clearing
makes sense: enrollment limit, category, cover image).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.courses import cover, rules
from lms.courses.access import editable_course, visible_clause, visible_course
from lms.courses.catalog_version import bump_catalog_version
from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CoursePrerequisite,
    CourseStatus,
    CourseTag,
    CoverStatus,
    Difficulty,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.courses.publication import PublicationCheck, not_publishable, unmet_requirements
from lms.courses.slugs import available_slug, change_slug, checked_slug, course_id_for_slug
from lms.errors import Conflict, Forbidden, NotFound
from lms.jobs.service import enqueue
from lms.models import new_id, utcnow
from lms.search.indexing import request_reindex
from lms.security import Viewer, require_role
from lms.users.models import Role, User

RESIZE_COVER_JOB = "courses.resize_cover"
DELETE_STORAGE_JOB = "courses.delete_storage"
# Status changes an instructor asks for through updateCourse; publishing has its own mutation.
MANUAL_TRANSITIONS = {
    (CourseStatus.PENDING_REVIEW, CourseStatus.DRAFT),  # withdraw (or an admin sends it back)
    (CourseStatus.DRAFT, CourseStatus.ARCHIVED),
    (CourseStatus.PUBLISHED, CourseStatus.ARCHIVED),
}


# --- reads ---------------------------------------------------------------------------


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


# --- email verification hook ---------------------------------------------------------


def require_verified_email(session: Session, user_id: uuid.UUID) -> None:
    """`EMAIL_NOT_VERIFIED` unless the user has verified their email address (Users module)."""
    if session.scalar(select(User.email_verified_at).where(User.id == user_id)) is None:
        raise Forbidden(
            "verify your email address before publishing a course", code="EMAIL_NOT_VERIFIED"
        )


# --- courses -------------------------------------------------------------------------


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
        raise Conflict(f"the slug {slug!r} is taken", code="SLUG_TAKEN", field="slug")
    return slug


def update_course(session: Session, viewer: Viewer, *, id: Any, data: dict[str, Any]) -> Course:
    """Change a course's details; instructors and admins only."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code="COURSE_NOT_FOUND", what="course")
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
    request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course


def _change_status(course: Course, target: CourseStatus) -> None:
    if target == course.status:
        return
    if target in (CourseStatus.PUBLISHED, CourseStatus.PENDING_REVIEW):
        raise Conflict(
            "use publishCourse to publish or submit a course for review",
            code="INVALID_STATUS_TRANSITION",
        )
    if (course.status, target) not in MANUAL_TRANSITIONS:
        raise Conflict(
            f"a {course.status.value} course cannot become {target.value}",
            code="INVALID_STATUS_TRANSITION",
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
            "PREREQUISITE_CYCLE", "a course cannot require itself", "prerequisiteIds"
        )
    found = set(
        session.scalars(select(Course.id).where(Course.id.in_(ids), visible_clause(viewer)))
    )
    missing = [str(key) for key in ids if key not in found]
    if missing:
        raise rules.invalid(
            "PREREQUISITE_NOT_FOUND",
            "prerequisite course(s) not found",
            "prerequisiteIds",
            missingIds=missing,
        )
    if _reaches(session, ids, course.id):
        raise rules.invalid(
            "PREREQUISITE_CYCLE",
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
    educators = set(
        session.scalars(select(User.id).where(User.id.in_(ids), User.role == Role.EDUCATOR))
    )
    invalid = [str(key) for key in ids if key not in educators]
    if invalid:
        raise rules.invalid(
            "INVALID_INSTRUCTOR",
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


def validate_course_publication(session: Session, viewer: Viewer, *, id: Any) -> PublicationCheck:
    """Every unmet publication requirement of a course, at once."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code="COURSE_NOT_FOUND", what="course")
    )
    return PublicationCheck(course.id, unmet_requirements(session, course))


def publish_course(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """Publish (or submit for review, when configured) a complete course; admins approve reviews."""
    course = editable_course(
        session, viewer, rules.parse_id(id, code="COURSE_NOT_FOUND", what="course")
    )
    if course.status == CourseStatus.PUBLISHED:
        return course  # publishing twice is harmless: a retried request must not fail
    if course.status == CourseStatus.PENDING_REVIEW and not viewer.is_admin:
        raise Conflict("the course is waiting for an admin's review", code="AWAITING_REVIEW")
    unmet = unmet_requirements(session, course)
    if unmet:
        raise not_publishable(unmet)
    now = utcnow()
    if not viewer.is_admin:
        require_verified_email(session, viewer.user_id)
    if get_settings().course_review_required and not viewer.is_admin:
        course.status, course.submitted_at = CourseStatus.PENDING_REVIEW, now
    else:
        course.status = CourseStatus.PUBLISHED
        course.published_at = course.published_at or now
        course.archived_at = None
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    course.updated_at = now
    return course


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
        session, viewer, rules.parse_id(id, code="COURSE_NOT_FOUND", what="course"), owner_only=True
    )
    if has_enrollments(course):
        # Students keep their progress and certificates: the course leaves the catalog only.
        if course.status != CourseStatus.ARCHIVED:
            course.status, course.archived_at = CourseStatus.ARCHIVED, utcnow()
            course.updated_at = course.archived_at
        bump_catalog_version(session)  # cached anonymous catalog responses are stale now
        request_reindex(session, course.id)  # search documents follow it
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
    request_reindex(session, course.id)  # search documents follow it
    return DeleteCourseResult(course.id, "DELETED", None)


# --- modules -------------------------------------------------------------------------


def _module(session: Session, module_id: Any) -> CourseModule:
    key = rules.parse_id(module_id, code="MODULE_NOT_FOUND", what="module")
    module = session.get(CourseModule, key)
    if module is None:
        raise NotFound("module not found", code="MODULE_NOT_FOUND")
    return module


def _editable_module(
    session: Session, viewer: Viewer, module_id: Any
) -> tuple[Course, CourseModule]:
    module = _module(session, module_id)
    try:
        course = editable_course(session, viewer, module.course_id)
    except NotFound:
        raise NotFound("module not found", code="MODULE_NOT_FOUND") from None
    return course, module


def add_module(
    session: Session, viewer: Viewer, *, course_id: Any, data: dict[str, Any]
) -> CourseModule:
    """Add a module to a course, at the end or at `position`."""
    course = editable_course(
        session, viewer, rules.parse_id(course_id, code="COURSE_NOT_FOUND", what="course")
    )
    count = session.scalar(select(func.count()).where(CourseModule.course_id == course.id))
    if count >= rules.MODULES_MAX:
        raise rules.invalid(
            "TOO_MANY_MODULES", f"a course has at most {rules.MODULES_MAX} modules", "courseId"
        )
    position = rules.position(data.get("position"), count)
    session.execute(
        update(CourseModule)
        .where(CourseModule.course_id == course.id, CourseModule.position >= position)
        .values(position=CourseModule.position + 1)
    )
    now = utcnow()
    module = CourseModule(
        id=new_id(),
        course_id=course.id,
        title=rules.title(data.get("title")),
        description=rules.rich(data.get("description"), field="description"),
        position=position,
        created_at=now,
        updated_at=now,
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    session.add(module)
    course.updated_at = now
    return module


def update_module(
    session: Session, viewer: Viewer, *, id: Any, data: dict[str, Any]
) -> CourseModule:
    """Rename or re-describe a module."""
    course, module = _editable_module(session, viewer, id)
    if "title" in data:
        module.title = rules.title(data["title"])
    if "description" in data:
        module.description = rules.rich(data["description"], field="description")
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module


def delete_module(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """Delete a module and its lessons; the course's other modules close the gap."""
    course, module = _editable_module(session, viewer, id)
    gap = module.position
    session.execute(delete(CourseModule).where(CourseModule.id == module.id))
    session.execute(
        update(CourseModule)
        .where(CourseModule.course_id == course.id, CourseModule.position > gap)
        .values(position=CourseModule.position - 1)
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course


def reorder_modules(
    session: Session, viewer: Viewer, *, course_id: Any, data: dict[str, Any]
) -> Course:
    """Put a course's modules in the given order (the full list of its module ids)."""
    course = editable_course(
        session, viewer, rules.parse_id(course_id, code="COURSE_NOT_FOUND", what="course")
    )
    current = session.scalars(
        select(CourseModule.id).where(CourseModule.course_id == course.id)
    ).all()
    order = _checked_order(data.get("module_ids") or [], current, field="moduleIds")
    _apply_order(session, CourseModule, order)
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course


def _checked_order(raw_ids: list[Any], current: list[uuid.UUID], *, field: str) -> list[uuid.UUID]:
    """The new order, which must name every current id exactly once and nothing else."""
    given: list[uuid.UUID | str] = []
    for raw in raw_ids:
        try:
            given.append(uuid.UUID(str(raw)))
        except ValueError:
            given.append(str(raw))
    known = set(current)
    duplicates = sorted({str(key) for key in given if given.count(key) > 1})
    unknown = sorted({str(key) for key in given if key not in known})
    missing = sorted(str(key) for key in known if key not in given)
    if duplicates or unknown or missing:
        raise rules.invalid(
            "INVALID_ORDER",
            "give every id exactly once: no duplicates, no ids from elsewhere, none left out",
            field,
            duplicateIds=duplicates,
            unknownIds=unknown,
            missingIds=missing,
        )
    return [key for key in given if isinstance(key, uuid.UUID)]


def _apply_order(
    session: Session, model: type[CourseModule] | type[Lesson], order: list[uuid.UUID]
) -> None:
    if order:
        session.execute(
            update(model),
            [{"id": key, "position": position} for position, key in enumerate(order)],
        )


# --- lessons -------------------------------------------------------------------------


def _lesson_fields(
    data: dict[str, Any], lesson_type: LessonType, *, creating: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if creating or "title" in data:
        fields["title"] = rules.title(data.get("title"))
    if creating or "content" in data:
        fields["content"] = rules.rich(data.get("content"), field="content")
    if creating or "duration_seconds" in data:
        fields["duration_seconds"] = rules.duration_seconds(data.get("duration_seconds"))
    if "video_asset_id" in data:
        raw = data["video_asset_id"]
        fields["video_asset_id"] = (
            None if raw is None else rules.id_list([raw], field="videoAssetId", maximum=1)[0]
        )
        if fields["video_asset_id"] is not None and lesson_type != LessonType.VIDEO:
            raise rules.invalid(
                "VIDEO_NOT_ALLOWED", "only VIDEO lessons have a video", "videoAssetId"
            )
    for flag in ("is_free_preview", "requires_previous"):
        if data.get(flag) is not None or creating:
            fields[flag] = bool(data.get(flag))
    return fields


def _follow_video(
    session: Session,
    fields: dict[str, Any],
    data: dict[str, Any],
    current: uuid.UUID | None = None,
) -> None:
    """A lesson's duration is its video's playing time, however the video was attached.

    A READY video's length wins over a given `durationSeconds`. A video still processing
    sets it when it becomes READY (the ingest pipeline calls `follow_video_duration`);
    until then, and without a video, it is 0 unless given.
    """
    attaching = "video_asset_id" in fields
    if not attaching and "duration_seconds" not in fields:
        return
    from lms.content.service import video_seconds  # content imports courses' models

    asset_id = fields["video_asset_id"] if attaching else current
    seconds = video_seconds(session, asset_id) if asset_id is not None else None
    if seconds is not None:
        fields["duration_seconds"] = seconds
    elif attaching and "duration_seconds" not in data:  # the old video's length is stale
        fields["duration_seconds"] = 0


def add_lesson(session: Session, viewer: Viewer, *, module_id: Any, data: dict[str, Any]) -> Lesson:
    """Add a lesson to a module, at the end or at `position`."""
    course, module = _editable_module(session, viewer, module_id)
    count = session.scalar(select(func.count()).where(Lesson.module_id == module.id))
    if count >= rules.LESSONS_PER_MODULE_MAX:
        raise rules.invalid(
            "TOO_MANY_LESSONS",
            f"a module has at most {rules.LESSONS_PER_MODULE_MAX} lessons",
            "moduleId",
        )
    lesson_type = LessonType(data["type"])
    fields = _lesson_fields(data, lesson_type, creating=True)
    _follow_video(session, fields, data)
    position = rules.position(data.get("position"), count)
    session.execute(
        update(Lesson)
        .where(Lesson.module_id == module.id, Lesson.position >= position)
        .values(position=Lesson.position + 1)
    )
    now = utcnow()
    lesson = Lesson(
        id=new_id(),
        module_id=module.id,
        course_id=course.id,
        type=lesson_type,
        position=position,
        created_at=now,
        updated_at=now,
        video_asset_id=fields.pop("video_asset_id", None),
        **fields,
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    session.add(lesson)
    module.updated_at = course.updated_at = now
    return lesson


def _editable_lesson(session: Session, viewer: Viewer, lesson_id: Any) -> tuple[Course, Lesson]:
    key = rules.parse_id(lesson_id, code="LESSON_NOT_FOUND", what="lesson")
    lesson = session.get(Lesson, key)
    if lesson is None:
        raise NotFound("lesson not found", code="LESSON_NOT_FOUND")
    try:
        course = editable_course(session, viewer, lesson.course_id)
    except NotFound:
        raise NotFound("lesson not found", code="LESSON_NOT_FOUND") from None
    return course, lesson


def update_lesson(session: Session, viewer: Viewer, *, id: Any, data: dict[str, Any]) -> Lesson:
    """Change a lesson's content, type, video, duration or flags."""
    course, lesson = _editable_lesson(session, viewer, id)
    if data.get("type") is not None:
        lesson.type = LessonType(data["type"])
        if lesson.type != LessonType.VIDEO and "video_asset_id" not in data:
            lesson.video_asset_id = None
            if "duration_seconds" not in data:
                lesson.duration_seconds = 0
    fields = _lesson_fields(data, lesson.type, creating=False)
    _follow_video(session, fields, data, lesson.video_asset_id)
    for name, value in fields.items():
        setattr(lesson, name, value)
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    lesson.updated_at = course.updated_at = utcnow()
    return lesson


def delete_lesson(session: Session, viewer: Viewer, *, id: Any) -> CourseModule:
    """Delete a lesson; the module's other lessons close the gap."""
    course, lesson = _editable_lesson(session, viewer, id)
    module_id, gap = lesson.module_id, lesson.position
    session.execute(delete(Lesson).where(Lesson.id == lesson.id))
    session.execute(
        update(Lesson)
        .where(Lesson.module_id == module_id, Lesson.position > gap)
        .values(position=Lesson.position - 1)
    )
    module = session.get(CourseModule, module_id)
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module


def reorder_lessons(
    session: Session, viewer: Viewer, *, module_id: Any, data: dict[str, Any]
) -> CourseModule:
    """Put a module's lessons in the given order (the full list of its lesson ids)."""
    course, module = _editable_module(session, viewer, module_id)
    current = session.scalars(select(Lesson.id).where(Lesson.module_id == module.id)).all()
    _apply_order(
        session, Lesson, _checked_order(data.get("lesson_ids") or [], current, field="lessonIds")
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module
