"""What a course needs before it can be published: every unmet requirement at once.

`validateCoursePublication` returns the list; `publishCourse` refuses with the same list
(`COURSE_NOT_PUBLISHABLE`, `extensions.requirements`), so an educator fixes everything in
one pass instead of discovering problems one by one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.errors import CourseCode
from lms.courses.models import (
    Course,
    CourseModule,
    CoursePrerequisite,
    CourseStatus,
    CoverStatus,
    Lesson,
    LessonType,
)
from lms.errors import ValidationFailed
from lms.sanitize import visible_text

DESCRIPTION_MIN = 50  # characters of visible text


@dataclass(frozen=True)
class Requirement:
    code: str
    message: str
    field: str | None = None
    module_id: uuid.UUID | None = None
    lesson_id: uuid.UUID | None = None

    def as_extension(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "moduleId": str(self.module_id) if self.module_id else None,
            "lessonId": str(self.lesson_id) if self.lesson_id else None,
        }


@dataclass(frozen=True)
class PublicationCheck:
    course_id: uuid.UUID
    unmet_requirements: list[Requirement]

    @property
    def is_valid(self) -> bool:
        return not self.unmet_requirements


def ready_video_assets(session: Session, asset_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among `asset_ids` whose video is transcoded and playable (one statement)."""
    # Imported here: the content service builds on courses, so a module-level import would cycle.
    from lms.content.service import ready_video_ids

    return ready_video_ids(session, asset_ids)


def unmet_requirements(session: Session, course: Course) -> list[Requirement]:
    """Everything that stops `course` from being published (three or four statements)."""
    unmet: list[Requirement] = []
    if not course.title.strip():
        unmet.append(Requirement("TITLE_MISSING", "add a title", "title"))
    if len(visible_text(course.description)) < DESCRIPTION_MIN:
        unmet.append(
            Requirement(
                "DESCRIPTION_TOO_SHORT",
                f"write a description of at least {DESCRIPTION_MIN} characters",
                "description",
            )
        )
    if not course.category:
        unmet.append(Requirement("CATEGORY_MISSING", "choose a category", "category"))
    if not 0 <= course.price_amount <= rules.PRICE_MAX or course.currency not in rules.CURRENCIES:
        unmet.append(Requirement("PRICE_INVALID", "set a valid price and currency", "priceAmount"))
    if not course.cover_variants:
        if course.cover_status == CoverStatus.PROCESSING:
            unmet.append(
                Requirement(
                    "COVER_NOT_READY", "the cover image is still being processed", "coverImage"
                )
            )
        else:
            detail = (
                f" (the last upload failed: {course.cover_error})" if course.cover_error else ""
            )
            unmet.append(
                Requirement("COVER_MISSING", f"upload a cover image{detail}", "coverImage")
            )

    modules = session.execute(
        select(CourseModule.id, CourseModule.title)
        .where(CourseModule.course_id == course.id)
        .order_by(CourseModule.position)
    ).all()
    lessons = session.execute(
        select(
            Lesson.id,
            Lesson.module_id,
            Lesson.title,
            Lesson.type,
            Lesson.video_asset_id,
            Lesson.content,
        )
        .where(Lesson.course_id == course.id)
        .order_by(Lesson.position)
    ).all()
    if not modules:
        unmet.append(Requirement("NO_MODULES", "add at least one module with at least one lesson"))
    with_lessons = {lesson.module_id for lesson in lessons}
    for module in modules:
        if module.id not in with_lessons:
            unmet.append(
                Requirement(
                    "MODULE_WITHOUT_LESSONS",
                    f"module {module.title!r} has no lessons",
                    module_id=module.id,
                )
            )
    videos = [lesson for lesson in lessons if lesson.type == LessonType.VIDEO]
    ready = ready_video_assets(session, {v.video_asset_id for v in videos if v.video_asset_id})
    for lesson in videos:
        if lesson.video_asset_id is None:
            unmet.append(
                Requirement(
                    "VIDEO_MISSING",
                    f"lesson {lesson.title!r} has no video",
                    "videoAssetId",
                    lesson.module_id,
                    lesson.id,
                )
            )
        elif lesson.video_asset_id not in ready:
            unmet.append(
                Requirement(
                    "VIDEO_NOT_READY",
                    f"the video of lesson {lesson.title!r} is not ready to play",
                    "videoAssetId",
                    lesson.module_id,
                    lesson.id,
                )
            )
    for lesson in lessons:
        if lesson.type == LessonType.TEXT and not visible_text(lesson.content):
            unmet.append(
                Requirement(
                    "LESSON_CONTENT_MISSING",
                    f"text lesson {lesson.title!r} is empty",
                    "content",
                    lesson.module_id,
                    lesson.id,
                )
            )

    unpublished = session.scalars(
        select(Course.title)
        .join(CoursePrerequisite, CoursePrerequisite.prerequisite_id == Course.id)
        .where(CoursePrerequisite.course_id == course.id, Course.status != CourseStatus.PUBLISHED)
    ).all()
    for title in unpublished:
        unmet.append(
            Requirement(
                "PREREQUISITE_NOT_PUBLISHED",
                f"prerequisite {title!r} is not published",
                "prerequisiteIds",
            )
        )
    return unmet


def not_publishable(unmet: list[Requirement]) -> ValidationFailed:
    return ValidationFailed(
        f"the course cannot be published yet: {len(unmet)} requirement(s) unmet",
        code=CourseCode.COURSE_NOT_PUBLISHABLE,
        requirements=[requirement.as_extension() for requirement in unmet],
    )
