"""Enrollment operations: eligibility, enrolment, withdrawal, progress, access, reads.

Plain sync functions over a session; they validate, authorize and never commit. Inputs are
GraphQL input objects as dicts with snake_case keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms import pagination
from lms.courses.models import Course, CoursePrerequisite, CourseStatus, LessonType
from lms.analytics.service import duration, record
from lms.enrollments import progress as rules
from lms.enrollments.access import own_enrollment, parse_id, teaches, visible_enrollment
from lms.enrollments.certificates import start_issuance
from lms.enrollments.events import LESSON_TOPIC, PROGRESS_TOPIC, publish_after_commit
from lms.enrollments.models import (
    Certificate,
    CertificateStatus,
    Enrollment,
    EnrollmentStatus,
    LessonProgress,
)
from lms.enrollments.settings import enrollment_settings
from lms.enrollments.views import (
    EnrollmentView,
    LessonProgressView,
    enrollment_view,
    enrollment_views,
    lesson_event,
    lesson_progress_view,
    progress_event,
)
from lms.errors import Conflict, Forbidden, LmsError, NotFound, ValidationFailed
from lms.models import utcnow
from lms.notifications.service import notify
from lms.security import Viewer, require_authenticated, require_role
from lms.users.models import Role, User

SEATED = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)  # take a place in the course


# --- eligibility ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrerequisiteView:
    course_id: uuid.UUID
    title: str


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    missing_prerequisites: list[PrerequisiteView] = field(default_factory=list)


@dataclass(frozen=True)
class Eligibility:
    student_id: uuid.UUID
    course_id: uuid.UUID
    reasons: list[Reason]

    @property
    def eligible(self) -> bool:
        return not self.reasons


def _course(session: Session, course_id: Any, *, lock: bool = False) -> Course:
    key = parse_id(course_id, code="COURSE_NOT_FOUND", what="course")
    query = select(Course).where(Course.id == key)
    course = session.scalar(query.with_for_update() if lock else query)
    if course is None:
        raise NotFound("course not found", code="COURSE_NOT_FOUND")
    return course


def _reasons(
    session: Session, student_id: uuid.UUID, course: Course, existing: Enrollment | None
) -> list[Reason]:
    """Every reason the student may not enroll, most fundamental first."""
    reasons: list[Reason] = []
    if course.status != CourseStatus.PUBLISHED:
        reasons.append(Reason("COURSE_NOT_PUBLISHED", "this course is not open for enrollment"))
    if teaches(session, student_id, course.id):
        reasons.append(Reason("OWN_COURSE", "instructors cannot enroll in their own course"))
    if existing is not None and existing.status in SEATED:
        reasons.append(Reason("ALREADY_ENROLLED", "already enrolled in this course"))
    missing = session.execute(
        select(Course.id, Course.title)
        .join(CoursePrerequisite, CoursePrerequisite.prerequisite_id == Course.id)
        .where(CoursePrerequisite.course_id == course.id)
        .where(
            ~Course.id.in_(
                select(Enrollment.course_id).where(
                    Enrollment.student_id == student_id,
                    Enrollment.status == EnrollmentStatus.COMPLETED,
                )
            )
        )
        .order_by(Course.title)
    ).all()
    if missing:
        reasons.append(
            Reason(
                "PREREQUISITES_NOT_COMPLETED",
                "complete first: " + ", ".join(title for _, title in missing),
                [PrerequisiteView(*row) for row in missing],
            )
        )
    if course.enrollment_limit is not None and (existing is None or existing.status not in SEATED):
        seated = session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.course_id == course.id, Enrollment.status.in_(SEATED))
        )
        if seated >= course.enrollment_limit:
            reasons.append(Reason("ENROLLMENT_LIMIT_REACHED", "this course is full"))
    if course.price_amount > 0 and not _paid(session, student_id, course.id):
        reasons.append(Reason("PAYMENT_REQUIRED", "this course must be purchased first"))
    return reasons


def _paid(session: Session, student_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    from lms.payments.access import has_course_access  # the Payments module decides

    return has_course_access(session, student_id, course_id)


def _existing(
    session: Session, student_id: uuid.UUID, course_id: uuid.UUID, *, lock: bool = False
) -> Enrollment | None:
    query = select(Enrollment).where(
        Enrollment.student_id == student_id, Enrollment.course_id == course_id
    )
    return session.scalar(query.with_for_update() if lock else query)


def check_enrollment_eligibility(
    session: Session, viewer: Viewer, *, student_id: Any, course_id: Any
) -> Eligibility:
    """Every reason `student_id` may not enroll in `course_id` (the student, instructors,
    admins)."""
    user_id = require_authenticated(viewer)
    student = parse_id(student_id, code="USER_NOT_FOUND", what="student")
    course = _course(session, course_id)
    if not (viewer.is_admin or student == user_id or teaches(session, user_id, course.id)):
        raise Forbidden("you may check only your own eligibility", code="FORBIDDEN")
    if session.get(User, student) is None:
        raise NotFound("student not found", code="USER_NOT_FOUND")
    return Eligibility(
        student,
        course.id,
        _reasons(session, student, course, _existing(session, student, course.id)),
    )


# --- enrolment and withdrawal -------------------------------------------------------------


class NotEligible(Forbidden):
    """Enrolment refused: `code` is the first reason, `reasons` lists them all."""


def enroll_in_course(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> EnrollmentView:
    """Enroll the viewer (or resume a withdrawn enrollment with its progress)."""
    student_id = require_authenticated(viewer)
    # The course row lock serializes enrolments of one course: the limit holds under load.
    course = _course(session, input.get("course_id"), lock=True)
    existing = _existing(session, student_id, course.id, lock=True)
    reasons = _reasons(session, student_id, course, existing)
    if reasons:
        raise NotEligible(
            "; ".join(r.message for r in reasons),
            code=reasons[0].code,
            reasons=[{"code": r.code, "message": r.message} for r in reasons],
        )
    now = utcnow()
    if existing is not None:  # DROPPED: resume where the student left off
        existing.status, existing.dropped_at, existing.drop_reason = (
            EnrollmentStatus.ACTIVE,
            None,
            None,
        )
        existing.updated_at = now
        enrollment = existing
    else:
        enrollment = Enrollment(
            student_id=student_id,
            course_id=course.id,
            status=EnrollmentStatus.ACTIVE,
            enrolled_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():  # a concurrent twin that got past the lock-free read
                session.add(enrollment)
        except IntegrityError:
            raise Conflict("already enrolled in this course", code="ALREADY_ENROLLED") from None
        # Counts every student who ever enrolled: the Courses module archives such courses.
        course.enrollment_count += 1
    lessons = rules.outline(session, course.id)
    progress = rules.progress_by_lesson(session, enrollment.id)
    if rules.summarize(enrollment, lessons, progress):
        _complete(session, enrollment, now, requested_by_id=student_id)
    session.flush()
    _record_enrolled(session, enrollment)
    view = enrollment_view(session, enrollment)
    publish_after_commit(session, PROGRESS_TOPIC, progress_event(view))
    notify(
        session,
        user_id=student_id,
        type="ENROLLMENT",
        title=f'You are enrolled in "{course.title}"',
        key=f"enrollment:{enrollment.id}:{now.isoformat()}",
        data={"courseId": str(course.id), "enrollmentId": str(enrollment.id)},
    )
    return view


def withdraw_enrollment(
    session: Session, viewer: Viewer, *, input: dict[str, Any]
) -> EnrollmentView:
    """Withdraw (status DROPPED); progress is kept and resumes on enrolling again."""
    user_id = require_authenticated(viewer)
    enrollment = visible_enrollment(session, viewer, input.get("enrollment_id"), lock=True)
    if not (viewer.is_admin or enrollment.student_id == user_id):
        raise Forbidden("only the student or an admin may withdraw an enrollment", code="FORBIDDEN")
    reason = input.get("reason")
    if reason is not None and len(reason) > 500:
        raise ValidationFailed(
            "a reason has at most 500 characters", code="REASON_TOO_LONG", field="reason"
        )
    if enrollment.status == EnrollmentStatus.COMPLETED:
        raise Conflict("a completed course cannot be withdrawn from", code="ENROLLMENT_COMPLETED")
    if enrollment.status == EnrollmentStatus.ACTIVE:  # withdrawing twice changes nothing
        now = utcnow()
        enrollment.status, enrollment.dropped_at, enrollment.updated_at = (
            EnrollmentStatus.DROPPED,
            now,
            now,
        )
        enrollment.drop_reason = (reason or "").strip() or None
        record(
            session,
            actor_id=enrollment.student_id,
            verb="withdrew",
            object_type="course",
            object_id=enrollment.course_id,
            course_id=enrollment.course_id,
            result={"progress": enrollment.progress_percent},
        )
    view = enrollment_view(session, enrollment)
    publish_after_commit(session, PROGRESS_TOPIC, progress_event(view))
    return view


def grant_paid_enrollment(
    session: Session, *, student_id: uuid.UUID, course_id: uuid.UUID
) -> uuid.UUID:
    """Enroll a student whose payment went through (Payments module); idempotent. Other
    rules were checked before checkout: a paid seat is granted even if the course filled up."""
    course = _course(session, course_id, lock=True)
    existing = _existing(session, student_id, course.id, lock=True)
    now = utcnow()
    seated = existing is None or existing.status == EnrollmentStatus.DROPPED
    if existing is not None:
        if existing.status == EnrollmentStatus.DROPPED:
            existing.status, existing.dropped_at, existing.drop_reason = (
                EnrollmentStatus.ACTIVE,
                None,
                None,
            )
            existing.updated_at = now
        enrollment = existing
    else:
        enrollment = Enrollment(
            student_id=student_id,
            course_id=course.id,
            status=EnrollmentStatus.ACTIVE,
            enrolled_at=now,
            updated_at=now,
        )
        session.add(enrollment)
        course.enrollment_count += 1
    session.flush()
    if seated:  # a new or resumed seat
        _record_enrolled(session, enrollment)
    view = enrollment_view(session, enrollment)
    publish_after_commit(session, PROGRESS_TOPIC, progress_event(view))
    return enrollment.id


def _record_enrolled(session: Session, enrollment: Enrollment) -> None:
    record(
        session,
        actor_id=enrollment.student_id,
        verb="enrolled",
        object_type="course",
        object_id=enrollment.course_id,
        course_id=enrollment.course_id,
        result={"progress": enrollment.progress_percent},
    )


def revoke_paid_enrollment(session: Session, *, enrollment_id: uuid.UUID, reason: str) -> None:
    """A fully refunded purchase: the enrollment is DROPPED (progress kept) and its
    certificate, pending or issued, is revoked with the reason, so none is ever issued."""
    enrollment = session.get(Enrollment, enrollment_id, with_for_update=True)
    if enrollment is None:
        return
    now = utcnow()
    if enrollment.status != EnrollmentStatus.DROPPED:
        enrollment.status, enrollment.dropped_at, enrollment.updated_at = (
            EnrollmentStatus.DROPPED,
            now,
            now,
        )
        enrollment.drop_reason = reason
    cert = session.scalar(
        select(Certificate).where(Certificate.enrollment_id == enrollment.id).with_for_update()
    )
    if cert is not None and cert.status != CertificateStatus.REVOKED:
        cert.status, cert.revoked_at, cert.revoked_reason = CertificateStatus.REVOKED, now, reason
    session.flush()
    view = enrollment_view(session, enrollment)
    publish_after_commit(session, PROGRESS_TOPIC, progress_event(view))


def enrollment_progress_percent(session: Session, *, enrollment_id: uuid.UUID) -> float:
    """The course progress of an enrollment, 0..100 (the refund policy reads it)."""
    enrollment = session.get(Enrollment, enrollment_id)
    return enrollment.progress_percent if enrollment is not None else 0.0


def _complete(
    session: Session, enrollment: Enrollment, now: datetime, *, requested_by_id: uuid.UUID | None
) -> None:
    """ACTIVE → COMPLETED, and the certificate pipeline starts (after commit)."""
    enrollment.status, enrollment.completed_at = EnrollmentStatus.COMPLETED, now
    start_issuance(session, enrollment, requested_by_id=requested_by_id)


# --- progress ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressPayload:
    enrollment: EnrollmentView
    lesson_progress: LessonProgressView


def _lesson_in(lessons: list[rules.OutlineLesson], lesson_id: Any) -> int:
    try:
        key = lesson_id if isinstance(lesson_id, uuid.UUID) else uuid.UUID(str(lesson_id))
    except ValueError:
        key = None
    for index, lesson in enumerate(lessons):
        if lesson.id == key:
            return index
    raise ValidationFailed(
        "this lesson is not part of the enrollment's course",
        code="LESSON_NOT_IN_COURSE",
        field="lessonId",
    )


def _writable(enrollment: Enrollment) -> None:
    if enrollment.status == EnrollmentStatus.DROPPED:
        raise Conflict(
            "the enrollment was withdrawn; enroll again to continue", code="ENROLLMENT_NOT_ACTIVE"
        )


def _locked_lesson(access: rules.Access) -> LmsError:
    return Forbidden(
        access.message or "this lesson is locked",
        code="LESSON_LOCKED",
        reason=access.reason,
        blockingLessonId=str(access.blocking_lesson_id) if access.blocking_lesson_id else None,
    )


def _progress_change(
    session: Session, viewer: Viewer, enrollment_id: Any, lesson_id: Any, change
) -> ProgressPayload:
    """Common frame of every progress write: load, check, change one lesson, summarize, announce."""
    enrollment = own_enrollment(session, viewer, enrollment_id)
    lessons = rules.outline(session, enrollment.course_id)
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
        _complete(session, enrollment, now, requested_by_id=viewer.user_id)
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
        if lesson.type == LessonType.VIDEO and row.position_seconds != old_position:
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
        if lessons[index].type == LessonType.VIDEO and row.percent < needed - 1e-9:
            raise Conflict(
                f"watch at least {needed:g} % of this video first",
                code="VIDEO_NOT_WATCHED",
                requiredPercent=needed,
                watchedPercent=row.percent,
            )
        row.percent = row.percent if lessons[index].type == LessonType.VIDEO else 100.0
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
    lessons = rules.outline(session, enrollment.course_id)
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


# --- reads --------------------------------------------------------------------------------


def get_enrollment(session: Session, viewer: Viewer, *, id: Any) -> EnrollmentView:
    """One enrollment, for its student, the course's instructors and admins."""
    return enrollment_view(session, visible_enrollment(session, viewer, id))


@dataclass(frozen=True)
class LessonSummary:
    lesson_id: uuid.UUID
    module_id: uuid.UUID
    title: str
    type: str
    required: bool
    locked: bool
    lock_reason: str | None
    blocking_lesson_id: uuid.UUID | None
    progress: LessonProgressView


@dataclass(frozen=True)
class ProgressSummary:
    enrollment: EnrollmentView
    lessons: list[LessonSummary]
    next_lesson_id: uuid.UUID | None


def enrollment_progress(session: Session, viewer: Viewer, *, enrollment_id: Any) -> ProgressSummary:
    """Per-lesson progress in course order, with locks and the lesson to resume."""
    enrollment = visible_enrollment(session, viewer, enrollment_id)
    lessons = rules.outline(session, enrollment.course_id)
    progress = rules.progress_by_lesson(session, enrollment.id)
    dropped = enrollment.status == EnrollmentStatus.DROPPED
    summaries = []
    next_id = None
    for index, lesson in enumerate(lessons):
        access = rules.lesson_access(lessons, index, progress, dropped=dropped)
        row = progress.get(lesson.id)
        if next_id is None and access.allowed and (row is None or not row.completed):
            next_id = lesson.id
        summaries.append(
            LessonSummary(
                lesson.id,
                lesson.module_id,
                lesson.title,
                lesson.type.value,
                lesson.required,
                not access.allowed,
                access.reason,
                access.blocking_lesson_id,
                lesson_progress_view(enrollment.id, lesson.id, row),
            )
        )
    return ProgressSummary(enrollment_view(session, enrollment), summaries, next_id)


def _status(value: Any) -> EnrollmentStatus | None:
    return None if value is None else EnrollmentStatus(value)


def _page(
    session: Session,
    name: str,
    where: list,
    *,
    status: Any,
    first: int | None,
    after: str | None,
    scope: dict[str, Any],
) -> pagination.Connection[EnrollmentView]:
    """Newest enrollments first, keyset-paginated."""
    wanted = _status(status)
    if wanted is not None:
        where = [*where, Enrollment.status == wanted]
    request = pagination.page_request(
        {"first": first, "after": after},
        query=pagination.query_key(name, {**scope, "status": wanted}),
    )
    query = select(Enrollment).where(*where)
    if request.after is not None:
        try:
            moment, last_id = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (IndexError, TypeError, ValueError):
            raise pagination.invalid_cursor("not a cursor of this list") from None
        query = query.where(
            or_(
                Enrollment.enrolled_at < moment,
                and_(Enrollment.enrolled_at == moment, Enrollment.id < last_id),
            )
        )
    rows = session.scalars(
        query.order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc()).limit(request.first + 1)
    ).all()
    total = session.scalar(select(func.count()).select_from(Enrollment).where(*where))
    views = enrollment_views(session, rows)
    return pagination.connection(
        views, request, lambda v: [v.enrolled_at.isoformat(), str(v.id)], total
    )


def my_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """The viewer's enrollments, newest first."""
    user_id = require_authenticated(viewer)
    return _page(
        session,
        "myEnrollments",
        [Enrollment.student_id == user_id],
        status=status,
        first=first,
        after=after,
        scope={"student": str(user_id)},
    )


def course_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """A course's enrollments, for its instructors and admins."""
    user_id = require_authenticated(viewer)
    course = _course(session, course_id)
    if not (viewer.is_admin or teaches(session, user_id, course.id)):
        raise Forbidden(
            "only the course's instructors and admins see its enrollments", code="FORBIDDEN"
        )
    return _page(
        session,
        "courseEnrollments",
        [Enrollment.course_id == course.id],
        status=status,
        first=first,
        after=after,
        scope={"course": str(course.id)},
    )


def student_enrollments(
    session: Session,
    viewer: Viewer,
    *,
    student_id: Any,
    status: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[EnrollmentView]:
    """Any student's enrollments, for admins (and the student themselves)."""
    user_id = require_authenticated(viewer)
    student = parse_id(student_id, code="USER_NOT_FOUND", what="student")
    if student != user_id:
        require_role(viewer, Role.ADMIN)
    return _page(
        session,
        "studentEnrollments",
        [Enrollment.student_id == student],
        status=status,
        first=first,
        after=after,
        scope={"student": str(student)},
    )


def courses_by_id(
    session: Session, viewer: Viewer, course_ids: list[uuid.UUID]
) -> list[Course | None]:
    """Batch read for `Enrollment.course`: the course when the viewer may see it."""
    from lms.courses.access import visible_clause

    rows = session.scalars(select(Course).where(Course.id.in_(course_ids), visible_clause(viewer)))
    found = {course.id: course for course in rows}
    return [found.get(key) for key in course_ids]
