"""Eligibility: every reason a student may not enroll, most fundamental first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.courses import service as courses
from lms.enrollments.access import parse_id, teaches
from lms.enrollments.models import Enrollment, EnrollmentStatus
from lms.errors import Forbidden, NotFound
from lms.security import Viewer, require_authenticated
from lms.users.errors import UserCode
from lms.users.service import user_exists

SEATED = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)  # take a place in the course


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


def refusal_reasons(
    session: Session, student_id: uuid.UUID, course, existing: Enrollment | None
) -> list[Reason]:
    """Every reason the student may not enroll, most fundamental first."""
    reasons: list[Reason] = []
    if not courses.open_for_enrollment(course):
        reasons.append(Reason("COURSE_NOT_PUBLISHED", "this course is not open for enrollment"))
    if teaches(session, student_id, course.id):
        reasons.append(Reason("OWN_COURSE", "instructors cannot enroll in their own course"))
    if existing is not None and existing.status in SEATED:
        reasons.append(Reason("ALREADY_ENROLLED", "already enrolled in this course"))
    completed = select(Enrollment.course_id).where(
        Enrollment.student_id == student_id, Enrollment.status == EnrollmentStatus.COMPLETED
    )
    missing = courses.missing_prerequisites(session, course.id, completed)
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


def existing_enrollment(
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
    student = parse_id(student_id, code=UserCode.USER_NOT_FOUND, what="student")
    course = courses.find_course(session, course_id)
    if not (viewer.is_admin or student == user_id or teaches(session, user_id, course.id)):
        raise Forbidden("you may check only your own eligibility", code="FORBIDDEN")
    if not user_exists(session, student):
        raise NotFound("student not found", code=UserCode.USER_NOT_FOUND)
    return Eligibility(
        student,
        course.id,
        refusal_reasons(session, student, course, existing_enrollment(session, student, course.id)),
    )
