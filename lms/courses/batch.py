"""Batch reads for the per-request dataloaders: one statement per batch of keys.

Each function takes `(session, viewer, keys)` and returns one value per key, in key order,
so a page of N courses costs the same few statements whatever N is. They return plain
dataclasses (no ORM state), since the session closes as soon as the batch is read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, literal, select
from sqlalchemy.orm import Session

from lms.courses.access import visible_clause
from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CoursePrerequisite,
    CourseTag,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.security import Viewer
from lms.users.service import user_names

Keys = Sequence[uuid.UUID]


@dataclass(frozen=True, slots=True)
class InstructorView:
    user_id: uuid.UUID
    name: str
    role: InstructorRole


@dataclass(frozen=True, slots=True)
class ModuleView:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LessonView:
    id: uuid.UUID
    module_id: uuid.UUID
    course_id: uuid.UUID
    title: str
    type: LessonType
    video_asset_id: uuid.UUID | None
    duration_seconds: int
    is_free_preview: bool
    requires_previous: bool
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CourseStats:
    module_count: int = 0
    lesson_count: int = 0
    total_duration_seconds: int = 0


def _grouped(rows, key_of, keys: Keys, make) -> list[list]:
    groups: dict[uuid.UUID, list] = defaultdict(list)
    for row in rows:
        groups[key_of(row)].append(make(row))
    return [groups.get(key, []) for key in keys]


def instructors_by_course(
    session: Session, viewer: Viewer, course_ids: Keys
) -> list[list[InstructorView]]:
    """Owner first, then co-instructors in the order they were added."""
    names = user_names()
    rows = session.execute(
        select(CourseInstructor.course_id, CourseInstructor.role, names.c.id, names.c.name)
        .join(names, names.c.id == CourseInstructor.user_id)
        .where(CourseInstructor.course_id.in_(course_ids))
        .order_by(
            CourseInstructor.course_id, CourseInstructor.role.desc(), CourseInstructor.added_at
        )
    )
    return _grouped(
        rows, lambda r: r.course_id, course_ids, lambda r: InstructorView(r.id, r.name, r.role)
    )


def modules_by_course(session: Session, viewer: Viewer, course_ids: Keys) -> list[list[ModuleView]]:
    columns = [getattr(CourseModule, name) for name in ModuleView.__slots__]
    rows = session.execute(
        select(*columns)
        .where(CourseModule.course_id.in_(course_ids))
        .order_by(CourseModule.course_id, CourseModule.position)
    )
    return _grouped(rows, lambda r: r.course_id, course_ids, lambda r: ModuleView(*r))


def lessons_by_module(session: Session, viewer: Viewer, module_ids: Keys) -> list[list[LessonView]]:
    """Lessons in order, without their content (see `lesson_content`): a catalog page lists
    hundreds of lessons and should not read every lesson's text to show their titles."""
    columns = [getattr(Lesson, name) for name in LessonView.__slots__]
    rows = session.execute(
        select(*columns)
        .where(Lesson.module_id.in_(module_ids))
        .order_by(Lesson.module_id, Lesson.position)
    )
    return _grouped(rows, lambda r: r.module_id, module_ids, lambda r: LessonView(*r))


def lesson_content(session: Session, viewer: Viewer, lesson_ids: Keys) -> list[str | None]:
    """Each lesson's content, or None where the viewer may not read it: free previews are
    open to all, the rest to the course's instructors, its enrolled students and admins."""
    # Imported here: enrollments build on courses.
    from lms.enrollments.access import enrolled_course_ids

    if viewer.is_admin:
        may_read = literal(True)
    elif viewer.user_id is None:
        may_read = Lesson.is_free_preview
    else:
        may_read = (
            Lesson.is_free_preview
            | exists().where(
                CourseInstructor.course_id == Lesson.course_id,
                CourseInstructor.user_id == viewer.user_id,
            )
            | Lesson.course_id.in_(enrolled_course_ids(viewer.user_id))
        )
    rows = session.execute(
        select(Lesson.id, Lesson.content, may_read).where(Lesson.id.in_(lesson_ids))
    )
    content = {lesson_id: text if allowed else None for lesson_id, text, allowed in rows}
    return [content.get(key) for key in lesson_ids]


def stats_by_course(session: Session, viewer: Viewer, course_ids: Keys) -> list[CourseStats]:
    """Module count, lesson count and total duration, aggregated in the database."""
    rows = session.execute(
        select(
            CourseModule.course_id,
            func.count(func.distinct(CourseModule.id)),
            func.count(Lesson.id),
            func.coalesce(func.sum(Lesson.duration_seconds), 0),
        )
        .outerjoin(Lesson, Lesson.module_id == CourseModule.id)
        .where(CourseModule.course_id.in_(course_ids))
        .group_by(CourseModule.course_id)
    )
    stats = {row[0]: CourseStats(int(row[1]), int(row[2]), int(row[3])) for row in rows}
    return [stats.get(key, CourseStats()) for key in course_ids]


def tags_by_course(session: Session, viewer: Viewer, course_ids: Keys) -> list[list[str]]:
    rows = session.execute(
        select(CourseTag.course_id, CourseTag.tag)
        .where(CourseTag.course_id.in_(course_ids))
        .order_by(CourseTag.course_id, CourseTag.tag)
    )
    return _grouped(rows, lambda r: r.course_id, course_ids, lambda r: r.tag)


def prerequisites_by_course(
    session: Session, viewer: Viewer, course_ids: Keys
) -> list[list[Course]]:
    """The prerequisite courses the viewer may see."""
    rows = session.execute(
        select(CoursePrerequisite.course_id, Course)
        .join(Course, Course.id == CoursePrerequisite.prerequisite_id)
        .where(CoursePrerequisite.course_id.in_(course_ids), visible_clause(viewer))
        .order_by(CoursePrerequisite.course_id, Course.title)
    )
    return _grouped(rows, lambda r: r.course_id, course_ids, lambda r: r.Course)
