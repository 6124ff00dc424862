"""Courses, their modules and lessons, instructors, prerequisites, tags and slug history.

No ORM relationships: every read is an explicit query (the dataloaders batch them), and
child rows go with their course through `ON DELETE CASCADE` in the database.

`enrollment_count`, `rating_average` and `rating_count` are counters owned by the
Enrollments and Reviews modules; they live on the course row so the catalog can sort by
popularity and rating with an index instead of an aggregate per page.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class CourseStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PENDING_REVIEW = "PENDING_REVIEW"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class Difficulty(enum.StrEnum):
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    ADVANCED = "ADVANCED"


class LessonType(enum.StrEnum):
    VIDEO = "VIDEO"
    TEXT = "TEXT"
    QUIZ = "QUIZ"
    ASSIGNMENT = "ASSIGNMENT"


class InstructorRole(enum.StrEnum):
    OWNER = "OWNER"
    CO_INSTRUCTOR = "CO_INSTRUCTOR"


class CoverStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16)


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (
        # The catalog lists one status at a time, sorted by one of these keys (then id);
        # they also serve plain status filters and price ranges.
        Index("ix_courses_status_created", "status", "created_at", "id"),
        Index("ix_courses_status_popularity", "status", "enrollment_count", "id"),
        Index("ix_courses_status_rating", "status", "rating_average", "id"),
        Index("ix_courses_status_price", "status", "price_amount", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    difficulty: Mapped[Difficulty] = mapped_column(
        _enum(Difficulty), default=Difficulty.BEGINNER, index=True
    )
    language: Mapped[str] = mapped_column(String(16), default="en", index=True)
    status: Mapped[CourseStatus] = mapped_column(_enum(CourseStatus), default=CourseStatus.DRAFT)
    price_amount: Mapped[int] = mapped_column(default=0)  # minor units
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    enrollment_limit: Mapped[int | None] = mapped_column()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    cover_status: Mapped[CoverStatus | None] = mapped_column(_enum(CoverStatus))
    cover_version: Mapped[int] = mapped_column(default=0)
    # [{"width": 640, "format": "webp", "key": "courses/<id>/cover/v1/cover-640.webp"}, ...]
    cover_variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cover_error: Mapped[str | None] = mapped_column(String(500))
    enrollment_count: Mapped[int] = mapped_column(default=0)
    rating_average: Mapped[float] = mapped_column(default=0.0)
    rating_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    archived_at: Mapped[datetime | None] = mapped_column()

    @property
    def is_free(self) -> bool:
        return self.price_amount == 0

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_average, 2) if self.rating_count else None


class CourseInstructor(Base):
    """The owner and the co-instructors of a course; any of them may edit it."""

    __tablename__ = "course_instructors"

    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[InstructorRole] = mapped_column(_enum(InstructorRole))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class CoursePrerequisite(Base):
    __tablename__ = "course_prerequisites"

    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    prerequisite_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CourseTag(Base):
    __tablename__ = "course_tags"

    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class CourseSlug(Base):
    """A slug the course had before: old links keep resolving to the course."""

    __tablename__ = "course_slug_history"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    retired_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseModule(Base):
    __tablename__ = "course_modules"
    __table_args__ = (Index("ix_course_modules_course_position", "course_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML
    position: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_module_position", "module_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    module_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("course_modules.id", ondelete="CASCADE"), index=True
    )
    # Denormalized from the module: course-wide counts and access checks need no join.
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[LessonType] = mapped_column(_enum(LessonType))
    content: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML
    # The Content module's video asset; its foreign key arrives with that module's table.
    video_asset_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    duration_seconds: Mapped[int] = mapped_column(default=0)
    is_free_preview: Mapped[bool] = mapped_column(default=False)
    requires_previous: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# The catalog version row lives beside the code that bumps it; its table is a courses table.
from lms.courses.catalog_version import CatalogVersion  # noqa: E402,F401
