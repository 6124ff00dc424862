"""Assignment submissions: submit, grade with a rubric and the late policy, request a
revision, post grades; every version and grade kept in `SubmissionEvent`."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.analytics.service import record
from lms.assessments import access, late
from lms.assessments.errors import (
    AssignmentClosed,
    AssignmentSubmissionNotFound,
    AttemptLimitReached,
    CannotGradeOwnSubmission,
    NotGradable,
    OverrideReasonRequired,
    RubricScoreOutOfRange,
)
from lms.assessments.models import (
    Assignment,
    AssignmentSubmission,
    PostPolicy,
    SubmissionEvent,
    SubmissionStatus,
    SubmissionType,
)
from lms.assessments.service import files
from lms.assessments.service.assignments import editable_assignment, visible_assignment
from lms.enrollments import service as enrollments
from lms.enrollments.access import enrollment_id_of
from lms.errors import Forbidden, LmsError, ValidationFailed
from lms.models import utcnow
from lms.notifications.service import notify
from lms.sanitize import rich_text
from lms.security import Viewer, require_authenticated

MAX_FILES = 10


def _posted(assignment: Assignment) -> bool:
    return assignment.post_policy == PostPolicy.AUTOMATIC or assignment.grades_posted_at is not None


def submission_view(
    session: Session, viewer: Viewer, sub: AssignmentSubmission, assignment: Assignment
) -> dict[str, Any]:
    grader = access.teaches(session, viewer, assignment.course_id)
    grades_shown = grader or _posted(assignment)
    # Anonymous grading: graders see no names until grades are posted.
    hide_name = grader and assignment.anonymous_grading and assignment.grades_posted_at is None
    history = session.scalars(
        select(SubmissionEvent)
        .where(SubmissionEvent.submission_id == sub.id)
        .order_by(SubmissionEvent.at, SubmissionEvent.version)
    )
    return {
        "id": sub.id,
        "assignment_id": sub.assignment_id,
        "student_id": None if hide_name else sub.student_id,
        "attempt": sub.attempt,
        "version": sub.version,
        "status": sub.status,
        "text": sub.text,
        # Ariadne reads `sha256` as `sha_256`.
        "files": [{**f, "sha_256": f["sha256"]} for f in sub.files],
        "content_hash": sub.content_hash,
        "submitted_at": sub.submitted_at,
        "late_seconds": sub.late_seconds,
        "raw_score": sub.raw_score if grades_shown else None,
        "late_penalty": sub.penalty if grades_shown else None,
        "score": sub.score if grades_shown else None,
        "rubric_scores": sub.rubric_scores if grades_shown else [],
        "override_reason": sub.override_reason if grades_shown else None,
        "feedback": sub.feedback
        if (grades_shown or sub.status == SubmissionStatus.REVISION_REQUESTED)
        else None,
        "graded_at": sub.graded_at if grades_shown else None,
        "identical_submission_ids": _identical(session, sub) if grader else [],
        "history": [
            {
                "version": e.version,
                "kind": e.kind,
                "at": e.at,
                "actor_id": e.actor_id if grader or e.kind != "GRADED" else None,
                "data": e.data if (grades_shown or e.kind != "GRADED") else {},
            }
            for e in history
        ],
    }


def _identical(session: Session, sub: AssignmentSubmission) -> list:
    return list(
        session.scalars(
            select(AssignmentSubmission.id).where(
                AssignmentSubmission.content_hash == sub.content_hash,
                AssignmentSubmission.id != sub.id,
            )
        )
    )


def assignment_view(session: Session, viewer: Viewer, assignment: Assignment) -> dict[str, Any]:
    view = {c.key: getattr(assignment, c.key) for c in Assignment.__table__.columns}
    view["allowed_file_types"] = assignment.allowed_extensions
    view["late_policy"] = {
        "deduction_percent": assignment.late_deduction_percent,
        "unit": assignment.late_unit,
        "floor_percent": assignment.late_floor_percent,
    }
    instructor = access.teaches(session, viewer, assignment.course_id)
    view["viewer_can_edit"] = instructor
    view["viewer_grade"] = (
        assignment_grade(session, assignment, viewer.user_id)
        if viewer.user_id and not instructor
        else None
    )
    return view


def assignment_grade(session: Session, assignment: Assignment, student_id) -> float | None:
    """The student's grade: the best attempt after each attempt's own late penalty (so a
    late retake never lowers an earlier on-time score); the missing-work grade once the
    cut-off (or due date) passed with nothing submitted."""
    if not _posted(assignment):
        return None
    subs = list(
        session.scalars(
            select(AssignmentSubmission).where(
                AssignmentSubmission.assignment_id == assignment.id,
                AssignmentSubmission.student_id == student_id,
            )
        )
    )
    scores = [s.score for s in subs if s.score is not None and s.status == SubmissionStatus.GRADED]
    if scores:
        return max(scores)
    closed = assignment.cutoff_at or assignment.due_at
    if not subs and assignment.missing_grade is not None and closed and utcnow() > closed:
        return assignment.missing_grade
    return None


def _event(session, sub: AssignmentSubmission, kind: str, actor, data: dict) -> None:
    session.add(
        SubmissionEvent(
            submission_id=sub.id, version=sub.version, kind=kind, actor_id=actor, data=data
        )
    )


def submit_assignment(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> dict:
    assignment = visible_assignment(session, viewer, input.get("assignment_id"))
    student_id = access.require_student(session, viewer, assignment.course_id)
    now = utcnow()
    if assignment.available_from and now < assignment.available_from:
        raise AssignmentClosed("this assignment is not open yet")
    if assignment.cutoff_at and now > assignment.cutoff_at:
        raise AssignmentClosed("the hard cut-off for this assignment has passed")
    text = rich_text(input.get("text") or "")
    raw_files = input.get("file_asset_ids") or []
    if len(set(map(str, raw_files))) != len(raw_files):
        raise ValidationFailed("the same file twice", field="fileAssetIds")
    kind = assignment.submission_type
    if kind == SubmissionType.TEXT and (raw_files or not text):
        raise ValidationFailed("this assignment takes text only", field="text")
    if kind == SubmissionType.FILE and (text or not raw_files):
        raise ValidationFailed("this assignment takes files only", field="fileAssetIds")
    if not text and not raw_files:
        raise ValidationFailed("submit text or a file", field="text")
    if len(raw_files) > MAX_FILES:
        raise ValidationFailed(f"at most {MAX_FILES} files", field="fileAssetIds")
    subs = list(
        session.scalars(
            select(AssignmentSubmission)
            .where(
                AssignmentSubmission.assignment_id == assignment.id,
                AssignmentSubmission.student_id == student_id,
            )
            .order_by(AssignmentSubmission.attempt)
            .with_for_update()
        )
    )
    reopened = subs[-1] if subs and subs[-1].status == SubmissionStatus.REVISION_REQUESTED else None
    if (
        reopened is None
        and assignment.attempts_allowed
        and len(subs) >= assignment.attempts_allowed
    ):
        raise AttemptLimitReached(f"all {assignment.attempts_allowed} attempts are used")
    # Every file is checked before any is stored: a bad second file stores nothing.
    checked = [
        files.checked(
            session,
            viewer,
            ref,
            course_id=assignment.course_id,
            allowed=assignment.allowed_extensions,
            max_bytes=assignment.max_file_bytes,
        )
        for ref in raw_files
    ]
    stored = [
        files.store(f"assignment/{assignment.id}", *found, ref)
        for found, ref in zip(checked, raw_files, strict=True)
    ]
    digest = hashlib.sha256(
        "\n".join(
            [hashlib.sha256(text.encode()).hexdigest(), *(f["sha256"] for f in stored)]
        ).encode()
    ).hexdigest()
    values = {
        "text": text,
        "files": stored,
        "content_hash": digest,
        "submitted_at": now,
        "late_seconds": late.late_seconds(now, assignment.due_at),
        "status": SubmissionStatus.SUBMITTED,
        "raw_score": None,
        "penalty": 0.0,
        "score": None,
        "rubric_scores": [],
        "override_reason": None,
        "graded_by_id": None,
        "graded_at": None,
    }
    if reopened is not None:
        sub = reopened
        for name, value in values.items():
            setattr(sub, name, value)
        sub.version += 1
    else:
        sub = AssignmentSubmission(
            assignment_id=assignment.id,
            student_id=student_id,
            attempt=len(subs) + 1,
            version=1,
            feedback="",
            **values,
        )
        session.add(sub)
    session.flush()
    _event(
        session,
        sub,
        "SUBMITTED",
        student_id,
        {"text": text, "files": stored, "contentHash": digest, "lateSeconds": sub.late_seconds},
    )
    session.flush()
    return submission_view(session, viewer, sub, assignment)


def _gradable(session: Session, viewer: Viewer, submission_id: Any):
    user_id = require_authenticated(viewer)
    sub = session.get(
        AssignmentSubmission,
        access.parse_id(submission_id, AssignmentSubmissionNotFound, "assignment submission"),
        with_for_update=True,
    )
    if sub is None:
        raise AssignmentSubmissionNotFound("assignment submission not found")
    assignment = session.get(Assignment, sub.assignment_id)
    if not access.teaches(session, viewer, assignment.course_id):
        if sub.student_id == user_id:
            raise CannotGradeOwnSubmission("nobody grades their own submission")
        raise AssignmentSubmissionNotFound("assignment submission not found")
    if sub.student_id == user_id:
        raise CannotGradeOwnSubmission("nobody grades their own submission")
    return user_id, sub, assignment


def _rubric_total(assignment: Assignment, given: list[dict[str, Any]]) -> tuple[float, list]:
    criteria = {c["id"]: c for c in assignment.rubric}
    scored, seen = [], set()
    for item in given:
        cid = str(item.get("criterion_id"))
        criterion = criteria.get(cid)
        if criterion is None or cid in seen:
            raise ValidationFailed(f"unknown or repeated criterion {cid!r}", field="rubricScores")
        seen.add(cid)
        level = None
        if item.get("level_id") is not None:
            level = next((lv for lv in criterion["levels"] if lv["id"] == item["level_id"]), None)
            if level is None:
                raise ValidationFailed(f"criterion {cid}: unknown level", field="rubricScores")
        points = float(item["points"]) if item.get("points") is not None else None
        points = level["points"] if points is None and level else points
        if points is None:
            raise ValidationFailed(f"criterion {cid}: give points or a level", field="rubricScores")
        if not 0 <= points <= criterion["points"]:
            raise RubricScoreOutOfRange(
                f"criterion {cid}: {points:g} is outside 0..{criterion['points']:g}",
                criterionId=cid,
                maxPoints=criterion["points"],
            )
        scored.append(
            {
                "criterion_id": cid,
                "level_id": level["id"] if level else None,
                "points": points,
                "comment": str(item.get("comment") or "")[:5000],
            }
        )
    return round(sum(s["points"] for s in scored), 2), scored


def grade_assignment(
    session: Session, viewer: Viewer, *, submission_id: Any, input: dict[str, Any]
) -> dict:
    """The grade is the rubric's sum, unless the grader overrides it with a reason; the late
    penalty of this attempt is then taken off."""
    grader_id, sub, assignment = _gradable(session, viewer, submission_id)
    if sub.status == SubmissionStatus.REVISION_REQUESTED:
        raise NotGradable("a revision was requested: wait for the student's new version")
    given = input.get("rubric_scores") or []
    override = input.get("score")
    reason = (input.get("override_reason") or "").strip() or None
    if assignment.rubric and given:
        raw, scored = _rubric_total(assignment, given)
        if override is not None and abs(float(override) - raw) > 1e-9:
            if not reason:
                raise OverrideReasonRequired("a grade other than the rubric's sum needs a reason")
            raw = float(override)
        else:
            reason = None
    else:
        if override is None:
            raise ValidationFailed("give rubricScores or a score", field="score")
        if assignment.rubric and not reason:  # a score instead of the rubric: an override
            raise OverrideReasonRequired("a grade other than the rubric's sum needs a reason")
        raw, scored = float(override), []
    if not 0 <= raw <= assignment.max_points:
        raise ValidationFailed(
            f"the score is 0 to {assignment.max_points:g}", code="SCORE_OUT_OF_RANGE", field="score"
        )
    penalty = late.penalty(
        raw,
        assignment.max_points,
        sub.late_seconds,
        percent=assignment.late_deduction_percent,
        unit=assignment.late_unit,
        floor=assignment.late_floor_percent,
    )
    now = utcnow()
    sub.raw_score, sub.penalty, sub.score = round(raw, 2), penalty, round(raw - penalty, 2)
    sub.rubric_scores, sub.override_reason = scored, reason
    sub.feedback = rich_text(input.get("feedback") or "")
    sub.status, sub.graded_by_id, sub.graded_at = SubmissionStatus.GRADED, grader_id, now
    _event(
        session,
        sub,
        "GRADED",
        grader_id,
        {
            "rawScore": sub.raw_score,
            "latePenalty": penalty,
            "score": sub.score,
            "rubricScores": scored,
            "overrideReason": reason,
            "feedback": sub.feedback,
        },
    )
    session.flush()
    if _posted(assignment):
        _announce(session, assignment, [sub])
    return submission_view(session, viewer, sub, assignment)


def _announce(session: Session, assignment: Assignment, subs: list[AssignmentSubmission]) -> None:
    """Grades the student may now see: notify, complete the lesson."""
    for sub in subs:
        scaled = sub.score / assignment.max_points if assignment.max_points else 0.0
        record(
            session,
            actor_id=sub.student_id,
            verb="scored",
            object_type="assignment",
            object_id=assignment.id,
            course_id=assignment.course_id,
            result={"score": {"raw": sub.score, "max": assignment.max_points, "scaled": scaled}},
            context={"submissionId": str(sub.id), "version": sub.version},
        )
        notify(
            session,
            user_id=sub.student_id,
            type="GRADE_POSTED",
            title=f"{assignment.title}: graded",
            body=f"{sub.score:g} / {assignment.max_points:g}",
            key=f"grade:assignment-submission:{sub.id}:{sub.version}",
            data={"assignmentId": str(assignment.id), "submissionId": str(sub.id)},
        )
        if assignment.lesson_id is not None:
            _complete_lesson(session, sub.student_id, assignment.course_id, assignment.lesson_id)


def _complete_lesson(session: Session, student_id, course_id, lesson_id) -> None:
    enrollment_id = enrollment_id_of(session, student_id, course_id)
    if enrollment_id is None:
        return
    try:
        with session.begin_nested():
            enrollments.complete_lesson(
                session,
                Viewer(user_id=student_id),
                enrollment_id=enrollment_id,
                lesson_id=lesson_id,
            )
    except LmsError:
        pass  # a lesson still locked by the course's order stays as it is


def request_revision(
    session: Session, viewer: Viewer, *, submission_id: Any, feedback: str
) -> dict:
    """Reopen a submission with feedback; the student's next submit is its next version."""
    grader_id, sub, assignment = _gradable(session, viewer, submission_id)
    if sub.status == SubmissionStatus.REVISION_REQUESTED:
        raise NotGradable("a revision is already requested")
    text = rich_text(feedback or "")
    if not text:
        raise ValidationFailed("say what to revise", field="feedback")
    sub.status, sub.feedback = SubmissionStatus.REVISION_REQUESTED, text
    _event(session, sub, "REVISION_REQUESTED", grader_id, {"feedback": text})
    session.flush()
    return submission_view(session, viewer, sub, assignment)


def post_assignment_grades(session: Session, viewer: Viewer, *, assignment_id: Any) -> dict:
    """Manual post policy: grades become visible (and names, under anonymous grading)."""
    assignment = editable_assignment(session, viewer, assignment_id)
    first = assignment.grades_posted_at is None
    assignment.grades_posted_at = utcnow()
    if first:
        graded = list(
            session.scalars(
                select(AssignmentSubmission).where(
                    AssignmentSubmission.assignment_id == assignment.id,
                    AssignmentSubmission.status == SubmissionStatus.GRADED,
                )
            )
        )
        _announce(session, assignment, graded)
    return assignment_view(session, viewer, assignment)


def get_assignment_submission(session: Session, viewer: Viewer, *, id: Any) -> dict:
    user_id = require_authenticated(viewer)
    sub = session.get(
        AssignmentSubmission,
        access.parse_id(id, AssignmentSubmissionNotFound, "assignment submission"),
    )
    if sub is None:
        raise AssignmentSubmissionNotFound("assignment submission not found")
    assignment = session.get(Assignment, sub.assignment_id)
    if sub.student_id != user_id and not access.teaches(session, viewer, assignment.course_id):
        raise AssignmentSubmissionNotFound("assignment submission not found")
    return submission_view(session, viewer, sub, assignment)


def assignment_submissions_by_student(
    session: Session, viewer: Viewer, *, assignment_id: Any, student_id: Any = None
) -> list[dict]:
    assignment = visible_assignment(session, viewer, assignment_id)
    user_id = require_authenticated(viewer)
    target = user_id
    if student_id is not None and str(student_id) != str(user_id):
        if not access.teaches(session, viewer, assignment.course_id):
            raise Forbidden("students see only their own submissions", code="FORBIDDEN")
        target = access.parse_id(student_id, AssignmentSubmissionNotFound, "student")
    subs = session.scalars(
        select(AssignmentSubmission)
        .where(
            AssignmentSubmission.assignment_id == assignment.id,
            AssignmentSubmission.student_id == target,
        )
        .order_by(AssignmentSubmission.attempt)
    )
    return [submission_view(session, viewer, s, assignment) for s in subs]


def assignment_submissions(
    session: Session, viewer: Viewer, *, assignment_id: Any, status: Any = None
) -> list[dict]:
    """Every submission of an assignment, for its graders (`status: SUBMITTED` to grade)."""
    assignment = visible_assignment(session, viewer, assignment_id)
    access.require_instructor(session, viewer, assignment.course_id)
    query = select(AssignmentSubmission).where(AssignmentSubmission.assignment_id == assignment.id)
    if status is not None:
        query = query.where(AssignmentSubmission.status == SubmissionStatus(status))
    subs = session.scalars(query.order_by(AssignmentSubmission.submitted_at))
    return [submission_view(session, viewer, s, assignment) for s in subs]


def submission_count(session: Session, assignment_id) -> int:
    return session.scalar(
        select(func.count()).where(AssignmentSubmission.assignment_id == assignment_id)
    )
