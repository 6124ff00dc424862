"""Authoring assignments: instructions, dates, uploads, late policy, rubric, post policy."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.assessments import access
from lms.assessments.errors import AssignmentNotFound
from lms.assessments.models import (
    Assignment,
    AssignmentSubmission,
    LateUnit,
    PostPolicy,
    SubmissionStatus,
    SubmissionType,
)
from lms.assessments.service import files
from lms.assessments.service.quizzes import _lesson
from lms.assessments.settings import assessment_settings
from lms.enrollments.access import active_student_ids
from lms.errors import NotFound, ValidationFailed
from lms.models import utcnow
from lms.notifications.service import notify_many
from lms.sanitize import plain_text, rich_text
from lms.security import Viewer

PLAIN = (
    "due_at",
    "available_from",
    "cutoff_at",
    "attempts_allowed",
    "missing_grade",
    "anonymous_grading",
)


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code="BAD_USER_INPUT", field=field)


def _rubric(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    criteria, seen = [], set()
    for index, item in enumerate(raw):
        cid = str(item.get("id") or f"c{index + 1}")
        if cid in seen:
            raise _bad(f"criterion id {cid!r} is used twice", "rubric")
        seen.add(cid)
        levels = [
            {
                "id": str(level.get("id") or f"{cid}-l{n + 1}"),
                "title": plain_text(level.get("title") or "")[:200],
                "points": float(level["points"]),
            }
            for n, level in enumerate(item.get("levels") or [])
        ]
        points = item.get("points")
        points = (
            float(points) if points is not None else max((lv["points"] for lv in levels), default=0)
        )
        if points <= 0 or any(not 0 <= lv["points"] <= points for lv in levels):
            raise _bad(f"criterion {cid}: points above 0, levels within 0..points", "rubric")
        criteria.append(
            {
                "id": cid,
                "title": plain_text(item.get("title") or "")[:200] or cid,
                "points": points,
                "levels": levels,
            }
        )
    return criteria


def _reused_rubric(session: Session, viewer: Viewer, data: dict[str, Any]) -> dict[str, Any]:
    """`rubricFromAssignmentId`: the rubric of another assignment the viewer teaches, copied
    (so editing one later never changes the other's grades)."""
    source_id = data.get("rubric_from_assignment_id")
    if source_id is None:
        return data
    if data.get("rubric") is not None:
        raise _bad("give a rubric or rubricFromAssignmentId, not both", "rubricFromAssignmentId")
    source = session.get(Assignment, access.parse_id(source_id, AssignmentNotFound, "assignment"))
    if source is None or not access.teaches(session, viewer, source.course_id):
        raise AssignmentNotFound("assignment not found")
    if not source.rubric:
        raise _bad("that assignment has no rubric", "rubricFromAssignmentId")
    return {**data, "rubric": source.rubric}


def _apply(assignment: Assignment, data: dict[str, Any]) -> None:
    for name in PLAIN:
        if name in data:
            setattr(assignment, name, data[name])
    if "title" in data:
        title = plain_text(data["title"] or "")
        if not 1 <= len(title) <= 200:
            raise _bad("a title of 1 to 200 characters is required", "title")
        assignment.title = title
    if "instructions" in data:
        assignment.instructions = rich_text(data["instructions"] or "")
    if data.get("submission_type") is not None:
        assignment.submission_type = SubmissionType(data["submission_type"])
    if data.get("post_policy") is not None:
        assignment.post_policy = PostPolicy(data["post_policy"])
    if data.get("allowed_file_types") is not None:
        types = sorted({t.lower().lstrip(".") for t in data["allowed_file_types"]})
        unknown = [t for t in types if t not in files.SIGNATURES]
        if unknown:
            raise _bad(f"file types not supported: {unknown}", "allowedFileTypes")
        assignment.allowed_extensions = types
    if data.get("max_file_bytes") is not None:
        ceiling = assessment_settings().max_file_bytes
        if not 1 <= data["max_file_bytes"] <= ceiling:
            raise _bad(f"maxFileBytes is 1 to {ceiling}", "maxFileBytes")
        assignment.max_file_bytes = data["max_file_bytes"]
    policy = data.get("late_policy")
    if policy is not None:
        assignment.late_deduction_percent = float(policy.get("deduction_percent") or 0)
        assignment.late_unit = LateUnit(policy.get("unit") or LateUnit.DAY)
        assignment.late_floor_percent = float(policy.get("floor_percent") or 0)
        if not 0 <= assignment.late_deduction_percent <= 100:
            raise _bad("deductionPercent is 0 to 100", "latePolicy")
        if not 0 <= assignment.late_floor_percent <= 100:
            raise _bad("floorPercent is 0 to 100", "latePolicy")
    if data.get("rubric") is not None:
        assignment.rubric = _rubric(data["rubric"])
    if data.get("max_points") is not None:
        assignment.max_points = float(data["max_points"])
    elif data.get("rubric"):
        assignment.max_points = round(sum(c["points"] for c in assignment.rubric), 2)
    if not 0 < assignment.max_points <= 100_000:
        raise _bad("maxPoints is above 0", "maxPoints")
    if assignment.attempts_allowed is not None and assignment.attempts_allowed < 1:
        raise _bad("attemptsAllowed is at least 1 (null: unlimited)", "attemptsAllowed")
    if (
        assignment.missing_grade is not None
        and not 0 <= assignment.missing_grade <= assignment.max_points
    ):
        raise _bad("missingGrade is 0 to maxPoints", "missingGrade")
    if assignment.due_at and assignment.cutoff_at and assignment.cutoff_at < assignment.due_at:
        raise _bad("cutoffAt cannot be before dueAt", "cutoffAt")
    if (
        assignment.available_from
        and assignment.due_at
        and assignment.due_at <= assignment.available_from
    ):
        raise _bad("dueAt must be after availableFrom", "dueAt")


def create_assignment(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> dict:
    from lms.assessments.service.submissions import assignment_view

    course_id = access.parse_id(input.get("course_id"), NotFound, "course")
    user_id = access.require_instructor(session, viewer, course_id)
    assignment = Assignment(
        course_id=course_id,
        lesson_id=_lesson(session, course_id, input.get("lesson_id")),
        created_by_id=user_id,
        title="",
        instructions="",
        submission_type=SubmissionType.TEXT,
        allowed_extensions=[],
        max_file_bytes=10 * 1024 * 1024,
        max_points=100.0,
        late_deduction_percent=0.0,
        late_unit=LateUnit.DAY,
        late_floor_percent=0.0,
        rubric=[],
        anonymous_grading=False,
        post_policy=PostPolicy.AUTOMATIC,
    )
    _apply(assignment, _reused_rubric(session, viewer, {"title": input.get("title"), **input}))
    session.add(assignment)
    session.flush()
    return assignment_view(session, viewer, assignment)


def editable_assignment(session: Session, viewer: Viewer, assignment_id: Any) -> Assignment:
    assignment = session.get(
        Assignment,
        access.parse_id(assignment_id, AssignmentNotFound, "assignment"),
        with_for_update=True,
    )
    if assignment is None or not access.may_read_course_work(session, viewer, assignment.course_id):
        raise AssignmentNotFound("assignment not found")
    access.require_instructor(session, viewer, assignment.course_id)
    return assignment


def visible_assignment(session: Session, viewer: Viewer, assignment_id: Any) -> Assignment:
    assignment = session.get(
        Assignment, access.parse_id(assignment_id, AssignmentNotFound, "assignment")
    )
    if assignment is None or not access.may_read_course_work(session, viewer, assignment.course_id):
        raise AssignmentNotFound("assignment not found")
    return assignment


def get_assignment(session: Session, viewer: Viewer, *, id: Any) -> dict:
    from lms.assessments.service.submissions import assignment_view

    return assignment_view(session, viewer, visible_assignment(session, viewer, id))


def update_assignment(session: Session, viewer: Viewer, *, id: Any, input: dict[str, Any]) -> dict:
    from lms.assessments.service.submissions import assignment_view

    assignment = editable_assignment(session, viewer, id)
    if "lesson_id" in input:
        assignment.lesson_id = _lesson(session, assignment.course_id, input["lesson_id"])
    _apply(assignment, _reused_rubric(session, viewer, input))
    if "due_at" in input:
        assignment.due_soon_notified_at = None  # a new due date earns a new reminder
    assignment.updated_at = utcnow()
    return assignment_view(session, viewer, assignment)


def delete_assignment(session: Session, viewer: Viewer, *, id: Any) -> bool:
    assignment = editable_assignment(session, viewer, id)
    session.execute(delete(Assignment).where(Assignment.id == assignment.id))
    return True


def notify_due_soon(session: Session) -> int:
    """Scheduled: "assignment due soon" to enrolled students who have not submitted, once
    per due date. Returns how many assignments were announced."""
    now = utcnow()
    horizon = now + timedelta(hours=assessment_settings().due_soon_hours)
    due = list(
        session.scalars(
            select(Assignment)
            .where(
                Assignment.due_at > now,
                Assignment.due_at <= horizon,
                Assignment.due_soon_notified_at.is_(None),
            )
            .with_for_update(skip_locked=session.get_bind().dialect.name == "postgresql")
        )
    )
    for assignment in due:
        submitted = set(
            session.scalars(
                select(AssignmentSubmission.student_id).where(
                    AssignmentSubmission.assignment_id == assignment.id,
                    AssignmentSubmission.status != SubmissionStatus.REVISION_REQUESTED,
                )
            )
        )
        students: list[uuid.UUID] = [
            s for s in active_student_ids(session, assignment.course_id) if s not in submitted
        ]
        if students:
            notify_many(
                session,
                user_ids=students,
                type="ASSIGNMENT_DUE",
                title=f"Due soon: {assignment.title}",
                body=f"Due {assignment.due_at:%Y-%m-%d %H:%M} UTC",
                key=f"due:{assignment.id}:{assignment.due_at:%Y%m%dT%H%M}",
                data={"assignmentId": str(assignment.id)},
            )
        assignment.due_soon_notified_at = now
    return len(due)
