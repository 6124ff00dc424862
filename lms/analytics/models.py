"""Analytics: learning events shaped like xAPI statements, and the daily rollups read by
every query of the module.

`learning_events` is append-only and partitioned by month on PostgreSQL (the migration
makes the partitions; the primary key includes the timestamp, as partitioning requires).
A full rollup rebuilds the rollup tables from the events; on PostgreSQL an incremental run
adds the deltas of the events it has not yet folded in (`analytics_rolled_events` keeps the
ones inside the look-back), so a re-run or an overlapping run changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class LearningEvent(Base):
    __tablename__ = "learning_events"
    __table_args__ = (
        Index("ix_learning_events_stored_at", "stored_at"),
        Index("ix_learning_events_course_id_timestamp", "course_id", "timestamp"),
        Index("ix_learning_events_actor_id_timestamp", "actor_id", "timestamp"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    timestamp: Mapped[datetime] = mapped_column(primary_key=True, default=utcnow)
    # When the row was written: the rollup watermark follows it, so late events count.
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID] = mapped_column()
    verb: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[uuid.UUID | None] = mapped_column()
    result: Mapped[dict | None] = mapped_column(JSON)
    context: Mapped[dict | None] = mapped_column(JSON)
    # Numbers the rollups sum, lifted out of `result` so GROUP BY needs no JSON functions.
    score: Mapped[float | None] = mapped_column()  # scaled 0..1
    seconds: Mapped[int] = mapped_column(default=0)  # time on task this event adds
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor currency units
    currency: Mapped[str | None] = mapped_column(String(3))
    progress: Mapped[float | None] = mapped_column()  # the course percent after the event


class CourseDaily(Base):
    __tablename__ = "analytics_course_daily"

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    enrollments: Mapped[int] = mapped_column(default=0)
    active_students: Mapped[int] = mapped_column(default=0)
    lesson_completions: Mapped[int] = mapped_column(default=0)
    completions: Mapped[int] = mapped_column(default=0)
    certificates: Mapped[int] = mapped_column(default=0)
    forum_posts: Mapped[int] = mapped_column(default=0)
    graded: Mapped[int] = mapped_column(default=0)
    time_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(default=0)


class StudentDaily(Base):
    __tablename__ = "analytics_student_daily"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    events: Mapped[int] = mapped_column(default=0)
    time_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    lesson_completions: Mapped[int] = mapped_column(default=0)
    progress: Mapped[float] = mapped_column(default=0.0)  # highest course percent that day
    graded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    score_sum: Mapped[float] = mapped_column(default=0.0)
    perfect: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    forum_posts: Mapped[int] = mapped_column(default=0)
    last_seen: Mapped[datetime] = mapped_column()


class CourseStudent(Base):
    """One student in one course, summed over days (second stage of the rollup)."""

    __tablename__ = "analytics_course_students"
    __table_args__ = (Index("ix_analytics_course_students_user_id", "user_id"),)
    # fillfactor 80 on PostgreSQL (migration 0039): incremental runs update rows in place (HOT).

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    time_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    lesson_completions: Mapped[int] = mapped_column(default=0)
    graded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    score_sum: Mapped[float] = mapped_column(default=0.0)
    perfect: Mapped[int] = mapped_column(default=0)
    completed: Mapped[bool] = mapped_column(default=False)
    active_days: Mapped[int] = mapped_column(default=0)
    last_seen: Mapped[datetime] = mapped_column()


class LessonDaily(Base):
    __tablename__ = "analytics_lesson_daily"
    __table_args__ = (Index("ix_analytics_lesson_daily_course_id", "course_id"),)

    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column()
    viewers: Mapped[int] = mapped_column(default=0)
    completions: Mapped[int] = mapped_column(default=0)
    time_seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class LessonSegment(Base):
    """Video drop-off: how many students watched each 5-second segment of a lesson."""

    __tablename__ = "analytics_lesson_segments"
    __table_args__ = (Index("ix_analytics_lesson_segments_course_id", "course_id"),)

    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column()
    viewers: Mapped[int] = mapped_column(default=0)


class LessonWatch(Base):
    """Which 5-second segments of a lesson's video one student watched: one row per lesson
    and viewer, the segments as ranges (PostgreSQL `int4multirange`; SQLite: JSON
    `[[first, end), …]`). Runs merge new ranges into it (a union: a re-run or a late event
    adds nothing twice) and add to `analytics_lesson_segments` only the segments it gains."""

    __tablename__ = "analytics_lesson_watch"
    # fillfactor 80 on PostgreSQL (migration 0039): merged ranges are updated in place (HOT).

    # The viewer first: a full run sorts its rows by the key, and uuids compare as bytes
    # where lesson ids compare by collation (half the time for the rebuild's sort).
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column()
    segments: Mapped[Any] = mapped_column(JSON().with_variant(INT4MULTIRANGE(), "postgresql"))


class RevenueDaily(Base):
    __tablename__ = "analytics_revenue_daily"

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    purchases: Mapped[int] = mapped_column(default=0)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)


class ItemDaily(Base):
    """Quiz items: attempts and correct answers per day (difficulty = correct / attempts)."""

    __tablename__ = "analytics_item_daily"
    __table_args__ = (Index("ix_analytics_item_daily_course_id", "course_id"),)

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    correct: Mapped[int] = mapped_column(default=0)


class ItemResponseDaily(Base):
    """Each student's answers to a quiz item per day: what item discrimination needs."""

    __tablename__ = "analytics_item_responses"
    __table_args__ = (Index("ix_analytics_item_responses_course_id", "course_id"),)

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    correct: Mapped[int] = mapped_column(default=0)


class Badge(Base):
    """An achievement, awarded once per student and rule."""

    __tablename__ = "analytics_badges"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    badge: Mapped[str] = mapped_column(String(40), primary_key=True)
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)


class RolledEvent(Base):
    """An event already folded into the rollups while it is still inside the watermark's
    look-back (`LAG`): an incremental run adds only events not listed here, so re-reading
    the overlap adds nothing twice. Pruned once the watermark has moved past them."""

    __tablename__ = "analytics_rolled_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    stored_at: Mapped[datetime] = mapped_column()


class Watermark(Base):
    """How far a rollup has read `learning_events.stored_at`."""

    __tablename__ = "analytics_watermarks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    stored_at: Mapped[datetime] = mapped_column()
    runs: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
