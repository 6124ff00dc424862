"""Enrolment and withdrawal, paid seats granted and revoked for Payments, completion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms.analytics.service import record
from lms.courses import service as courses
from lms.enrollments import progress as rules
from lms.enrollments.access import visible_enrollment
from lms.enrollments.certificates import start_issuance
from lms.enrollments.errors import EnrollmentCode
from lms.enrollments.events import PROGRESS_TOPIC, publish_after_commit
from lms.enrollments.models import Certificate, CertificateStatus, Enrollment, EnrollmentStatus
from lms.enrollments.service.eligibility import existing_enrollment, refusal_reasons
from lms.enrollments.views import EnrollmentView, enrollment_view, progress_event
from lms.errors import Conflict, Forbidden, ValidationFailed
from lms.models import utcnow
from lms.notifications.service import notify
from lms.security import Viewer, require_authenticated


class NotEligible(Forbidden):
    """Enrolment refused: `code` is the first reason, `reasons` lists them all."""


def enroll_in_course(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> EnrollmentView:
    """Enroll the viewer (or resume a withdrawn enrollment with its progress)."""
    student_id = require_authenticated(viewer)
    # The course row lock serializes enrolments of one course: the limit holds under load.
    course = courses.find_course(session, input.get("course_id"), lock=True)
    existing = existing_enrollment(session, student_id, course.id, lock=True)
    reasons = refusal_reasons(session, student_id, course, existing)
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
            raise Conflict(
                "already enrolled in this course", code=EnrollmentCode.ALREADY_ENROLLED
            ) from None
        # Counts every student who ever enrolled: the Courses module archives such courses.
        courses.count_enrollment(course)
    lessons = courses.outline(session, course.id)
    progress = rules.progress_by_lesson(session, enrollment.id)
    if rules.summarize(enrollment, lessons, progress):
        complete_enrollment(session, enrollment, now, requested_by_id=student_id)
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
            "a reason has at most 500 characters",
            code=EnrollmentCode.REASON_TOO_LONG,
            field="reason",
        )
    if enrollment.status == EnrollmentStatus.COMPLETED:
        raise Conflict(
            "a completed course cannot be withdrawn from", code=EnrollmentCode.ENROLLMENT_COMPLETED
        )
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
    course = courses.find_course(session, course_id, lock=True)
    existing = existing_enrollment(session, student_id, course.id, lock=True)
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
        courses.count_enrollment(course)
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


def complete_enrollment(
    session: Session, enrollment: Enrollment, now: datetime, *, requested_by_id: uuid.UUID | None
) -> None:
    """ACTIVE → COMPLETED, and the certificate pipeline starts (after commit)."""
    enrollment.status, enrollment.completed_at = EnrollmentStatus.COMPLETED, now
    start_issuance(session, enrollment, requested_by_id=requested_by_id)
