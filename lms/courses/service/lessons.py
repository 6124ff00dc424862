"""A module's lessons: add, change (type, video, duration, flags), delete and reorder."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.access import editable_course
from lms.courses.catalog_version import bump_catalog_version
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseModule, Lesson, LessonType
from lms.errors import NotFound
from lms.models import new_id, utcnow
from lms.search import service as search
from lms.security import Viewer
from lms.courses.service.modules import editable_module
from lms.courses.service.ordering import apply_order, checked_order


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
                CourseCode.VIDEO_NOT_ALLOWED, "only VIDEO lessons have a video", "videoAssetId"
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
    course, module = editable_module(session, viewer, module_id)
    count = session.scalar(select(func.count()).where(Lesson.module_id == module.id))
    if count >= rules.LESSONS_PER_MODULE_MAX:
        raise rules.invalid(
            CourseCode.TOO_MANY_LESSONS,
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
    search.request_reindex(session, course.id)  # search documents follow it
    session.add(lesson)
    module.updated_at = course.updated_at = now
    return lesson


def _editable_lesson(session: Session, viewer: Viewer, lesson_id: Any) -> tuple[Course, Lesson]:
    key = rules.parse_id(lesson_id, code=CourseCode.LESSON_NOT_FOUND, what="lesson")
    lesson = session.get(Lesson, key)
    if lesson is None:
        raise NotFound("lesson not found", code=CourseCode.LESSON_NOT_FOUND)
    try:
        course = editable_course(session, viewer, lesson.course_id)
    except NotFound:
        raise NotFound("lesson not found", code=CourseCode.LESSON_NOT_FOUND) from None
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
    search.request_reindex(session, course.id)  # search documents follow it
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
    search.request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module


def reorder_lessons(
    session: Session, viewer: Viewer, *, module_id: Any, data: dict[str, Any]
) -> CourseModule:
    """Put a module's lessons in the given order (the full list of its lesson ids)."""
    course, module = editable_module(session, viewer, module_id)
    current = session.scalars(select(Lesson.id).where(Lesson.module_id == module.id)).all()
    apply_order(
        session, Lesson, checked_order(data.get("lesson_ids") or [], current, field="lessonIds")
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module
