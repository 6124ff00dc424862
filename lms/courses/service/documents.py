"""A published course as the search index reads it: its fields, tags, module titles and
lessons in order, so the search module builds its documents without the courses' tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.courses.access import PUBLIC_STATUSES
from lms.courses.models import Course, CourseModule, CourseTag, Difficulty, Lesson, LessonType


@dataclass(frozen=True)
class LessonDocument:
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    content: str | None
    type: LessonType
    is_free_preview: bool
    position: int
    duration_seconds: int


@dataclass(frozen=True)
class CourseDocument:
    id: uuid.UUID
    slug: str
    title: str
    description: str
    category: str | None
    difficulty: Difficulty
    language: str
    price_amount: int
    currency: str
    rating_average: float
    rating_count: int
    enrollment_count: int
    published_at: datetime | None
    tags: list[str]
    module_titles: list[str]  # in module order
    lessons: list[LessonDocument]  # by position within the course


def course_document(session: Session, course_id: uuid.UUID) -> CourseDocument | None:
    """The course's searchable content; None when it is gone or not published."""
    course = session.get(Course, course_id)
    if course is None or course.status not in PUBLIC_STATUSES:
        return None
    tags = session.scalars(select(CourseTag.tag).where(CourseTag.course_id == course.id)).all()
    modules = session.scalars(
        select(CourseModule.title)
        .where(CourseModule.course_id == course.id)
        .order_by(CourseModule.position, CourseModule.id)  # as search's bulk rebuild orders
    ).all()
    lessons = session.execute(
        select(
            Lesson.id,
            Lesson.module_id,
            Lesson.title,
            Lesson.content,
            Lesson.type,
            Lesson.is_free_preview,
            Lesson.position,
            Lesson.duration_seconds,
        )
        .where(Lesson.course_id == course.id)
        .order_by(Lesson.position, Lesson.id)
    ).all()
    return CourseDocument(
        course.id,
        course.slug,
        course.title,
        course.description,
        course.category,
        course.difficulty,
        course.language,
        course.price_amount,
        course.currency,
        course.rating_average,
        course.rating_count,
        course.enrollment_count,
        course.published_at,
        list(tags),
        list(modules),
        [LessonDocument(*row) for row in lessons],
    )


def published_course_ids(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(Course.id).where(Course.status.in_(PUBLIC_STATUSES))))
