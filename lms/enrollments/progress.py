"""Course outline, lesson progress rules and the course-level summary.

Rules that make progress reports safe to send from flaky clients:
- the share watched only grows (a late "40 %" after "90 %" changes nothing);
- time spent is the client's running total per lesson, so a retried report counts once;
- the resume position follows the client's clock (`reportedAt`) when given, so an older
  position arriving late does not win;
- a lesson, once completed, stays completed until the student resets it.
A VIDEO lesson completes when `LMS_ENROLLMENT_VIDEO_COMPLETION_SHARE` of it has been
watched; other lessons when they reach 100 % or are marked complete.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.courses.service import OutlineLesson
from lms.enrollments.errors import EnrollmentCode
from lms.enrollments.models import Enrollment, LessonProgress
from lms.errors import ValidationFailed


def progress_by_lesson(
    session: Session, enrollment_id: uuid.UUID
) -> dict[uuid.UUID, LessonProgress]:
    rows = session.scalars(
        select(LessonProgress).where(LessonProgress.enrollment_id == enrollment_id)
    )
    return {row.lesson_id: row for row in rows}


def completion_percent(lesson: OutlineLesson, video_share: float) -> float:
    """The share (0..100) at which `lesson` completes by itself."""
    return 100.0 * video_share if lesson.is_video else 100.0


# --- input checks ---------------------------------------------------------------------


def checked_percent(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise ValidationFailed(
            "percentWatched is between 0 and 100",
            code=EnrollmentCode.INVALID_PERCENT,
            field="percentWatched",
        )
    return float(value)


def checked_seconds(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise ValidationFailed(
            f"{field} cannot be negative", code=EnrollmentCode.INVALID_SECONDS, field=field
        )
    return int(value)


# --- applying a report ------------------------------------------------------------------


def apply_report(
    row: LessonProgress,
    lesson: OutlineLesson,
    *,
    percent: float | None,
    position: int | None,
    time_spent: int | None,
    reported_at: datetime | None,
    now: datetime,
    video_share: float,
) -> bool:
    """Merge one progress report into `row`; True when it completed the lesson just now."""
    if percent is None and position is not None and lesson.playing_seconds > 0:
        percent = min(100.0, 100.0 * position / lesson.playing_seconds)
    if percent is not None:
        row.percent = max(row.percent, percent)
    if position is not None:
        stamp = reported_at or now
        if row.position_reported_at is None or stamp >= row.position_reported_at:
            row.position_seconds, row.position_reported_at = position, stamp
    if time_spent is not None:
        row.time_spent_seconds = max(row.time_spent_seconds, time_spent)
    row.updated_at = now
    if not row.completed and row.percent >= completion_percent(lesson, video_share) - 1e-9:
        mark_completed(row, now)
        return True
    return False


def mark_completed(row: LessonProgress, now: datetime) -> None:
    row.completed, row.completed_at = True, now
    row.percent = max(row.percent, 0.0)


# --- access -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    allowed: bool
    reason: str | None = None
    message: str | None = None
    blocking_lesson_id: uuid.UUID | None = None


def lesson_access(
    lessons: list[OutlineLesson],
    index: int,
    progress: dict[uuid.UUID, LessonProgress],
    *,
    dropped: bool,
) -> Access:
    """Whether the student may open lesson `index`, and why not."""
    lesson = lessons[index]
    if dropped:
        return Access(
            False, "ENROLLMENT_NOT_ACTIVE", "the enrollment was withdrawn; enroll again to continue"
        )
    if lesson.is_free_preview:
        return Access(True)
    if lesson.requires_previous and index > 0:
        previous = lessons[index - 1]
        done = progress.get(previous.id)
        if done is None or not done.completed:
            return Access(
                False,
                "PREVIOUS_LESSON_INCOMPLETE",
                f"complete “{previous.title}” first",
                previous.id,
            )
    return Access(True)


# --- course summary -------------------------------------------------------------------


def summarize(
    enrollment: Enrollment, lessons: list[OutlineLesson], progress: dict[uuid.UUID, LessonProgress]
) -> bool:
    """Refresh the enrollment's cached progress; True when every required lesson is complete.

    Course progress averages the required lessons, a completed one counting 100 %, so a
    half-watched video moves the bar too.
    """
    required = [lesson for lesson in lessons if lesson.required]
    done = [
        lesson
        for lesson in required
        if (row := progress.get(lesson.id)) is not None and row.completed
    ]
    shares = [
        100.0
        if (row := progress.get(lesson.id)) is not None and row.completed
        else (row.percent if row is not None else 0.0)
        for lesson in required
    ]
    enrollment.total_lessons = len(required)
    enrollment.completed_lessons = len(done)
    enrollment.progress_percent = round(sum(shares) / len(shares), 2) if shares else 0.0
    enrollment.time_spent_seconds = sum(row.time_spent_seconds for row in progress.values())
    return bool(required) and len(done) == len(required)
