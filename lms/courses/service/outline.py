"""A course's lessons in reading order, as other modules need them (enrollments' progress
rules): one statement, with the playing time of each lesson's READY video."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from lms.courses.models import CourseModule, Lesson, LessonType

# Courses may mark lessons optional; until that flag exists every lesson counts.
_REQUIRED = getattr(Lesson, "is_required", None)


@dataclass(frozen=True)
class OutlineLesson:
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    type: LessonType
    required: bool
    requires_previous: bool
    is_free_preview: bool
    duration_seconds: int
    # The attached READY video's own length: positions are measured against what plays.
    playing_seconds: float

    @property
    def is_video(self) -> bool:
        return self.type == LessonType.VIDEO


def outline(session: Session, course_id: uuid.UUID) -> list[OutlineLesson]:
    """The course's lessons in reading order (module position, then lesson position)."""
    # Imported here: the content service builds on courses, so a module-level import cycles.
    from lms.content.service import ready_video_lengths

    videos = ready_video_lengths()
    required = _REQUIRED if _REQUIRED is not None else literal(True)
    rows = session.execute(
        select(
            Lesson.id,
            Lesson.module_id,
            Lesson.title,
            Lesson.type,
            required,
            Lesson.requires_previous,
            Lesson.is_free_preview,
            Lesson.duration_seconds,
            func.coalesce(videos.c.duration_seconds, Lesson.duration_seconds),
        )
        .join(CourseModule, CourseModule.id == Lesson.module_id)
        .outerjoin(videos, videos.c.id == Lesson.video_asset_id)
        .where(Lesson.course_id == course_id)
        .order_by(CourseModule.position, Lesson.position, Lesson.id)
    )
    return [OutlineLesson(*row) for row in rows]
