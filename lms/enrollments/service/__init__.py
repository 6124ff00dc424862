"""Enrollment operations: eligibility, enrolment, withdrawal, progress, access, reads.

Plain sync functions over a session; they validate, authorize and never commit. Inputs are
GraphQL input objects as dicts with snake_case keys. One module per section (`eligibility`,
`enrolling`, `lesson_progress`, `reads`); every public name is re-exported here, so callers
import `lms.enrollments.service` and never a section.
"""

from lms.enrollments.service.eligibility import (
    SEATED,
    Eligibility,
    PrerequisiteView,
    Reason,
    check_enrollment_eligibility,
    existing_enrollment,
    refusal_reasons,
)
from lms.enrollments.service.enrolling import (
    NotEligible,
    complete_enrollment,
    enroll_in_course,
    enrollment_progress_percent,
    grant_paid_enrollment,
    revoke_paid_enrollment,
    withdraw_enrollment,
)
from lms.enrollments.service.lesson_progress import (
    AccessView,
    ProgressPayload,
    check_lesson_access,
    complete_lesson,
    reset_lesson_progress,
    update_lesson_progress,
)
from lms.enrollments.service.reads import (
    LessonSummary,
    ProgressSummary,
    course_enrollments,
    courses_by_id,
    enrollment_progress,
    get_enrollment,
    my_enrollments,
    student_enrollments,
)

__all__ = [
    "SEATED",
    "AccessView",
    "Eligibility",
    "LessonSummary",
    "NotEligible",
    "PrerequisiteView",
    "ProgressPayload",
    "ProgressSummary",
    "Reason",
    "check_enrollment_eligibility",
    "check_lesson_access",
    "complete_enrollment",
    "complete_lesson",
    "course_enrollments",
    "courses_by_id",
    "enroll_in_course",
    "enrollment_progress",
    "enrollment_progress_percent",
    "existing_enrollment",
    "get_enrollment",
    "grant_paid_enrollment",
    "my_enrollments",
    "refusal_reasons",
    "reset_lesson_progress",
    "revoke_paid_enrollment",
    "student_enrollments",
    "update_lesson_progress",
    "withdraw_enrollment",
]
