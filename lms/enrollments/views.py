"""Plain views of enrollments for the API: no ORM state leaves the service's session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from lms.courses.service import course_titles
from lms.enrollments.models import Enrollment, EnrollmentStatus, LessonProgress
from lms.users.access import display_names


@dataclass(frozen=True)
class EnrollmentView:
    id: uuid.UUID
    student_id: uuid.UUID
    student_name: str
    course_id: uuid.UUID
    course_title: str
    status: EnrollmentStatus
    progress_percent: float
    completed_lessons: int
    total_lessons: int
    time_spent_seconds: int
    enrolled_at: datetime
    updated_at: datetime
    last_accessed_at: datetime | None
    completed_at: datetime | None
    dropped_at: datetime | None


@dataclass(frozen=True)
class LessonProgressView:
    enrollment_id: uuid.UUID
    lesson_id: uuid.UUID
    percent_watched: float
    position_seconds: int
    time_spent_seconds: int
    completed: bool
    completed_at: datetime | None
    updated_at: datetime | None


def enrollment_views(session: Session, enrollments: Sequence[Enrollment]) -> list[EnrollmentView]:
    """Views with the student's name and the course's title (two reads for any number)."""
    student_ids = {e.student_id for e in enrollments}
    course_ids = {e.course_id for e in enrollments}
    names = display_names(session, student_ids)
    titles = course_titles(session, course_ids)
    return [
        EnrollmentView(
            e.id,
            e.student_id,
            names.get(e.student_id, ""),
            e.course_id,
            titles.get(e.course_id, ""),
            e.status,
            e.progress_percent,
            e.completed_lessons,
            e.total_lessons,
            e.time_spent_seconds,
            e.enrolled_at,
            e.updated_at,
            e.last_accessed_at,
            e.completed_at,
            e.dropped_at,
        )
        for e in enrollments
    ]


def enrollment_view(session: Session, enrollment: Enrollment) -> EnrollmentView:
    return enrollment_views(session, [enrollment])[0]


def lesson_progress_view(
    enrollment_id: uuid.UUID, lesson_id: uuid.UUID, row: LessonProgress | None
) -> LessonProgressView:
    if row is None:  # never opened: everything at zero
        return LessonProgressView(enrollment_id, lesson_id, 0.0, 0, 0, False, None, None)
    return LessonProgressView(
        enrollment_id,
        lesson_id,
        row.percent,
        row.position_seconds,
        row.time_spent_seconds,
        row.completed,
        row.completed_at,
        row.updated_at,
    )


def progress_event(view: EnrollmentView) -> dict:
    """The `enrollmentProgressUpdated` payload."""
    return {
        "enrollmentId": view.id,
        "studentId": view.student_id,
        "courseId": view.course_id,
        "status": view.status.value,
        "progressPercent": view.progress_percent,
        "completedLessons": view.completed_lessons,
        "totalLessons": view.total_lessons,
        "timeSpentSeconds": view.time_spent_seconds,
        "updatedAt": view.updated_at,
    }


def lesson_event(view: LessonProgressView, enrollment: EnrollmentView) -> dict:
    """The `lessonProgressUpdated` payload."""
    return {
        "enrollmentId": view.enrollment_id,
        "studentId": enrollment.student_id,
        "courseId": enrollment.course_id,
        "lessonId": view.lesson_id,
        "percentWatched": view.percent_watched,
        "positionSeconds": view.position_seconds,
        "timeSpentSeconds": view.time_spent_seconds,
        "completed": view.completed,
        "completedAt": view.completed_at,
        "updatedAt": view.updated_at,
    }
