"""Enrollments, per-lesson progress and certificates.

One enrollment row per (student, course), enforced by a unique constraint: two concurrent
enrolments produce one row, withdrawing only changes its status (the history stays), and
enrolling again resumes the same row with its progress. No ORM relationships: every read
is an explicit query.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class EnrollmentStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"


class CertificateStatus(enum.StrEnum):
    PENDING = "PENDING"  # recorded at completion; the pipeline has not issued it yet
    ISSUED = "ISSUED"
    REVOKED = "REVOKED"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("student_id", "course_id", name="uq_enrollments_student_course"),
        # myEnrollments / studentEnrollments: one student's list, newest first, by status.
        Index("ix_enrollments_student_status", "student_id", "status", "enrolled_at", "id"),
        # courseEnrollments and the enrollment-limit count.
        Index("ix_enrollments_course_status", "course_id", "status", "enrolled_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[EnrollmentStatus] = mapped_column(
        _enum(EnrollmentStatus), default=EnrollmentStatus.ACTIVE
    )
    # Cached from lesson progress on every change: lists sort and show it without a join.
    progress_percent: Mapped[float] = mapped_column(default=0.0)
    completed_lessons: Mapped[int] = mapped_column(default=0)
    total_lessons: Mapped[int] = mapped_column(default=0)
    time_spent_seconds: Mapped[int] = mapped_column(default=0)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_accessed_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    dropped_at: Mapped[datetime | None] = mapped_column()
    drop_reason: Mapped[str | None] = mapped_column(String(500))


class LessonProgress(Base):
    __tablename__ = "lesson_progress"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "lesson_id", name="uq_lesson_progress_enrollment_lesson"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), index=True
    )
    # Highest share watched or read, 0..100: never moves back (late reports are harmless).
    percent: Mapped[float] = mapped_column(default=0.0)
    # Where to resume: the latest report by the client's clock wins.
    position_seconds: Mapped[int] = mapped_column(default=0)
    position_reported_at: Mapped[datetime | None] = mapped_column()
    # A running total reported by the client; the highest report wins (retries count once).
    time_spent_seconds: Mapped[int] = mapped_column(default=0)
    completed: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """One certificate per enrollment. `code` is its public id; regenerating bumps `version`."""

    __tablename__ = "certificates"
    __table_args__ = (Index("uq_certificates_status_list_index", "status_list_index", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), unique=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[CertificateStatus] = mapped_column(
        _enum(CertificateStatus), default=CertificateStatus.PENDING
    )
    # The version the latest request asked for, and the one whose PDF is stored.
    requested_version: Mapped[int] = mapped_column(default=1)
    version: Mapped[int] = mapped_column(default=0)
    # What the stored version prints, so verification shows exactly the paper's details.
    student_name: Mapped[str | None] = mapped_column(String(200))
    course_title: Mapped[str | None] = mapped_column(String(200))
    instructor_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    completed_at: Mapped[datetime] = mapped_column()
    storage_key: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 of the stored PDF
    size_bytes: Mapped[int | None] = mapped_column()
    generation_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column()  # when the current version was stored
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Its bit in the revocation status list of its Open Badges credential (random, so a
    # list's neighbours say nothing); set when the first version is issued.
    status_list_index: Mapped[int | None] = mapped_column()
