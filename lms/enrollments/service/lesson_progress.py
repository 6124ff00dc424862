"""Progress writes (idempotent, safe out of order) and whether a lesson may be
opened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from lms.analytics.service import duration, record
from lms.courses.service import OutlineLesson, outline
from lms.enrollments import progress as rules
from lms.enrollments.access import own_enrollment, visible_enrollment
from lms.enrollments.errors import EnrollmentCode
from lms.enrollments.events import LESSON_TOPIC, PROGRESS_TOPIC, publish_after_commit
from lms.enrollments.models import Enrollment, EnrollmentStatus, LessonProgress
from lms.enrollments.service.enrolling import complete_enrollment
from lms.enrollments.settings import enrollment_settings
from lms.enrollments.views import (
    EnrollmentView,
    LessonProgressView,
    enrollment_view,
    lesson_event,
    lesson_progress_view,
    progress_event,
)
from lms.errors import Conflict, Forbidden, LmsError, ValidationFailed
from lms.models import utcnow
from lms.security import Viewer


@dataclass(frozen=True)
class ProgressPayload:
    enrollment: EnrollmentView
    lesson_progress: LessonProgressView


def _lesson_in(lessons: list[OutlineLesson], lesson_id: Any) -> int:
    try:
        key = lesson_id if isinstance(lesson_id, uuid.UUID) else uuid.UUID(str(lesson_id))
    except ValueError:
        key = None
    for index, lesson in enumerate(lessons):
        if lesson.id == key:
            return index
    raise ValidationFailed(
        "this lesson is not part of the enrollment's course",
        code=EnrollmentCode.LESSON_NOT_IN_COURSE,
        field="lessonId",
    )


def _writable(enrollment: Enrollment) -> None:
    if enrollment.status == EnrollmentStatus.DROPPED:
        raise Conflict(
            "the enrollment was withdrawn; enroll again to continue",
            code=EnrollmentCode.ENROLLMENT_NOT_ACTIVE,
        )


def _locked_lesson(access: rules.Access) -> LmsError:
    return Forbidden(
        access.message or "this lesson is locked",
        code=EnrollmentCode.LESSON_LOCKED,
        reason=access.reason,
        blockingLessonId=str(access.blocking_lesson_id) if access.blocking_lesson_id else None,
    )


def _progress_change(
    session: Session, viewer: Viewer, enrollment_id: Any, lesson_id: Any, change
) -> ProgressPayload:
    """Common frame of every progress write: load, check, change one lesson, summarize, announce."""
    enrollment = own_enrollment(session, viewer, enrollment_id)
    lessons = outline(session, enrollment.course_id)
    index = _lesson_in(lessons, lesson_id)
    _writable(enrollment)
    progress = rules.progress_by_lesson(session, enrollment.id)
    lesson = lessons[index]
    now = utcnow()
    row = progress.get(lesson.id)
    if row is None:
        row = LessonProgress(
            enrollment_id=enrollment.id,
            lesson_id=lesson.id,
            percent=0.0,
            position_seconds=0,
            time_spent_seconds=0,
            completed=False,
            updated_at=now,
        )
    before = (row.percent, row.position_seconds, row.time_spent_seconds, row.completed)
    change(row, lessons, index, progress, now)
    session.add(row)  # a no-op for a row already in the session
    progress[lesson.id] = row
    enrollment.last_accessed_at = now
    old_summary = (
        enrollment.progress_percent,
        enrollment.completed_lessons,
        enrollment.time_spent_seconds,
    )
    finished = rules.summarize(enrollment, lessons, progress)
    completed_now = finished and enrollment.status == EnrollmentStatus.ACTIVE
    if completed_now:
        complete_enrollment(session, enrollment, now, requested_by_id=viewer.user_id)
    changed = before != (row.percent, row.position_seconds, row.time_spent_seconds, row.completed)
    if changed or old_summary != (
        enrollment.progress_percent,
        enrollment.completed_lessons,
        enrollment.time_spent_seconds,
    ):
        enrollment.updated_at = now
    session.flush()
    view = enrollment_view(session, enrollment)
    lesson_view = lesson_progress_view(enrollment.id, lesson.id, row)
    if changed:  # an identical retry announces nothing
        _record_progress(session, enrollment, lesson, before, row, completed_course=completed_now)
        publish_after_commit(session, LESSON_TOPIC, lesson_event(lesson_view, view))
        publish_after_commit(session, PROGRESS_TOPIC, progress_event(view))
    return ProgressPayload(view, lesson_view)


def _record_progress(session, enrollment, lesson, before, row, *, completed_course) -> None:
    """Learning events of one progress change: the report (with the video positions it
    covered, for drop-off), a lesson completed now, the course completed now."""
    old_percent, old_position, old_spent, was_completed = before
    common = {"actor_id": enrollment.student_id, "course_id": enrollment.course_id}
    spent = duration(row.time_spent_seconds - old_spent)
    progress = {"progress": enrollment.progress_percent}
    if (row.percent, row.position_seconds, row.time_spent_seconds) != before[:3]:
        context = None
        if lesson.is_video and row.position_seconds != old_position:
            context = {"video": {"from": old_position, "to": row.position_seconds}}
        record(
            session,
            verb="progressed",
            object_type="lesson",
            object_id=lesson.id,
            result={**progress, "duration": spent},
            context=context,
            **common,
        )
    if row.completed and not was_completed:
        record(
            session,
            verb="completed",
            object_type="lesson",
            object_id=lesson.id,
            result={**progress, "completion": True},
            **common,
        )
    if completed_course:
        record(
            session,
            verb="completed",
            object_type="course",
            object_id=enrollment.course_id,
            result={**progress, "completion": True},
            **common,
        )


def _require_open(lessons, index, progress) -> None:
    access = rules.lesson_access(lessons, index, progress, dropped=False)
    if not access.allowed:
        raise _locked_lesson(access)


def update_lesson_progress(
    session: Session, viewer: Viewer, *, input: dict[str, Any]
) -> ProgressPayload:
    """Record a progress report (idempotent and safe out of order)."""
    percent = rules.checked_percent(input.get("percent_watched"))
    position = rules.checked_seconds(input.get("position_seconds"), "positionSeconds")
    spent = rules.checked_seconds(input.get("time_spent_seconds"), "timeSpentSeconds")
    reported_at = input.get("reported_at")
    share = enrollment_settings().video_completion_share

    def change(row, lessons, index, progress, now):
        _require_open(lessons, index, progress)
        rules.apply_report(
            row,
            lessons[index],
            percent=percent,
            position=position,
            time_spent=spent,
            reported_at=reported_at,
            now=now,
            video_share=share,
        )

    return _progress_change(
        session, viewer, input.get("enrollment_id"), input.get("lesson_id"), change
    )


def complete_lesson(
    session: Session, viewer: Viewer, *, enrollment_id: Any, lesson_id: Any
) -> ProgressPayload:
    """Mark a lesson complete (a video only once enough of it was watched)."""
    share = enrollment_settings().video_completion_share

    def change(row, lessons, index, progress, now):
        _require_open(lessons, index, progress)
        if row.completed:
            return
        needed = rules.completion_percent(lessons[index], share)
        if lessons[index].is_video and row.percent < needed - 1e-9:
            raise Conflict(
                f"watch at least {needed:g} % of this video first",
                code=EnrollmentCode.VIDEO_NOT_WATCHED,
                requiredPercent=needed,
                watchedPercent=row.percent,
            )
        row.percent = row.percent if lessons[index].is_video else 100.0
        rules.mark_completed(row, now)
        row.updated_at = now

    return _progress_change(session, viewer, enrollment_id, lesson_id, change)


def reset_lesson_progress(
    session: Session, viewer: Viewer, *, enrollment_id: Any, lesson_id: Any
) -> ProgressPayload:
    """Start a lesson over: share, position and completion back to zero (time spent stays)."""

    def change(row, lessons, index, progress, now):
        row.percent, row.position_seconds, row.position_reported_at = 0.0, 0, now
        row.completed, row.completed_at, row.updated_at = False, None, now

    return _progress_change(session, viewer, enrollment_id, lesson_id, change)


@dataclass(frozen=True)
class AccessView:
    enrollment_id: uuid.UUID
    lesson_id: uuid.UUID
    allowed: bool
    reason: str | None
    message: str | None
    blocking_lesson_id: uuid.UUID | None


def check_lesson_access(
    session: Session, viewer: Viewer, *, enrollment_id: Any, lesson_id: Any
) -> AccessView:
    """Whether the enrollment's student may open the lesson, and why not."""
    enrollment = visible_enrollment(session, viewer, enrollment_id)
    lessons = outline(session, enrollment.course_id)
    index = _lesson_in(lessons, lesson_id)
    progress = rules.progress_by_lesson(session, enrollment.id)
    access = rules.lesson_access(
        lessons, index, progress, dropped=enrollment.status == EnrollmentStatus.DROPPED
    )
    return AccessView(
        enrollment.id,
        lessons[index].id,
        access.allowed,
        access.reason,
        access.message,
        access.blocking_lesson_id,
    )
