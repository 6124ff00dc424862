"""Regrades. After an instructor corrects a question, a job regrades every closed attempt that
answered it and keeps the before/after report (`QuestionRegrade`). And regrade requests: a
student asks, with a reason, for one answer of a closed attempt to be looked at again; an
instructor accepts (with new points) or rejects, with a response. The request row is the
audit trail: who answered, when, points before and after."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lms.assessments import access
from lms.assessments.errors import (
    AttemptClosed,
    CannotGradeOwnSubmission,
    QuestionNotInAttempt,
    RegradeRequestNotFound,
)
from lms.assessments.models import (
    MANUAL_TYPES,
    AttemptStatus,
    Question,
    QuestionRegrade,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    RegradeRequest,
    RegradeStatus,
)
from lms.assessments.service.attempts import own_attempt, retotal, regrade_question
from lms.assessments.service.quizzes import editable_question, visible_quiz
from lms.errors import Conflict, PermanentJobError, ValidationFailed
from lms.jobs.models import Job
from lms.jobs.service import enqueue
from lms.models import utcnow
from lms.sanitize import plain_text
from lms.security import Viewer, require_authenticated


REGRADE_QUESTION = "assessments.regrade_question"


# --- regrades of corrected questions ---------------------------------------------------------


def schedule_question_regrade(
    session: Session, viewer: Viewer, question: Question
) -> dict[str, Any] | None:
    """After a correction: a regrade job when closed attempts answered the question (None when
    there is nothing to regrade: no such attempt, or a question graded by hand)."""
    if question.type in MANUAL_TYPES:
        return None
    answered = session.scalar(
        select(
            exists().where(
                QuizAnswer.question_id == question.id,
                QuizAnswer.attempt_id == QuizAttempt.id,
                QuizAttempt.status != AttemptStatus.IN_PROGRESS,
            )
        )
    )
    if not answered:
        return None
    job = enqueue(
        session,
        REGRADE_QUESTION,
        {"question_id": str(question.id), "revision": question.revision},
        subject=("question", str(question.id)),
        requested_by_id=viewer.user_id,
    )
    regrade = QuestionRegrade(
        id=job.id,
        question_id=question.id,
        revision=question.revision,
        requested_by_id=viewer.user_id,
    )
    session.add(regrade)
    session.flush()
    return regrade_view(regrade, job.status)


def run_question_regrade(session: Session, regrade_id: uuid.UUID) -> dict[str, Any]:
    """The job: regrade and store the report in one transaction. A re-run (the worker died
    after the commit) returns the stored report instead of finding nothing left to change."""
    regrade = session.get(QuestionRegrade, regrade_id, with_for_update=True)
    if regrade is None:
        raise PermanentJobError("the regrade's question is gone", code="QUESTION_NOT_FOUND")
    if regrade.report is None:
        question = session.get(Question, regrade.question_id, with_for_update=True)
        report = regrade_question(session, question)
        regrade.report = {
            "attempts": report["attempts"],
            "changes": [
                {key: str(v) if isinstance(v, uuid.UUID) else v for key, v in change.items()}
                for change in report["changes"]
            ],
        }
        regrade.finished_at = utcnow()
    return regrade.report


def question_regrades(session: Session, viewer: Viewer, *, question_id: Any) -> list[dict]:
    """Instructors: a question's regrades, newest first, each with its job's status."""
    question = editable_question(session, viewer, question_id, lock=False)
    rows = session.execute(
        select(QuestionRegrade, Job.status)
        .join(Job, Job.id == QuestionRegrade.id)
        .where(QuestionRegrade.question_id == question.id)
        .order_by(QuestionRegrade.created_at.desc())
    )
    return [regrade_view(regrade, status) for regrade, status in rows]


def regrade_view(regrade: QuestionRegrade, status: Any) -> dict[str, Any]:
    report = regrade.report or {}
    return {
        "id": regrade.id,
        "question_id": regrade.question_id,
        "revision": regrade.revision,
        "status": getattr(status, "value", status),
        "attempts": report.get("attempts", 0),
        "changes": report.get("changes", []),
        "created_at": regrade.created_at,
        "finished_at": regrade.finished_at,
    }


# --- regrade requests ------------------------------------------------------------------------


def view(request: RegradeRequest) -> dict[str, Any]:
    return {c.key: getattr(request, c.key) for c in RegradeRequest.__table__.columns} | {
        "submission_id": request.attempt_id
    }


def request_quiz_regrade(
    session: Session, viewer: Viewer, *, submission_id: Any, input: dict[str, Any]
) -> dict:
    attempt = own_attempt(session, viewer, submission_id)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        raise AttemptClosed("submit the attempt first", code="ATTEMPT_IN_PROGRESS")
    question_id = str(input.get("question_id"))
    if question_id not in attempt.question_ids:
        raise QuestionNotInAttempt("that question is not part of this attempt")
    reason = plain_text(input.get("reason") or "")
    if not 1 <= len(reason) <= 5000:
        raise ValidationFailed("give a reason (up to 5,000 characters)", field="reason")
    open_one = session.scalar(
        select(RegradeRequest.id).where(
            RegradeRequest.attempt_id == attempt.id,
            RegradeRequest.question_id == uuid.UUID(question_id),
            RegradeRequest.status == RegradeStatus.OPEN,
        )
    )
    if open_one is not None:
        raise Conflict("a request for this answer is already open", code="REGRADE_ALREADY_OPEN")
    request = RegradeRequest(
        attempt_id=attempt.id,
        question_id=uuid.UUID(question_id),
        student_id=attempt.student_id,
        reason=reason,
        status=RegradeStatus.OPEN,
    )
    session.add(request)
    session.flush()
    return view(request)


def answer_quiz_regrade(
    session: Session, viewer: Viewer, *, request_id: Any, input: dict[str, Any]
) -> dict:
    user_id = require_authenticated(viewer)
    request = session.get(
        RegradeRequest,
        access.parse_id(request_id, RegradeRequestNotFound, "regrade request"),
        with_for_update=True,
    )
    if request is None:
        raise RegradeRequestNotFound("regrade request not found")
    attempt = session.get(QuizAttempt, request.attempt_id, with_for_update=True)
    quiz = session.get(Quiz, attempt.quiz_id)
    if not access.teaches(session, viewer, quiz.course_id):
        raise RegradeRequestNotFound("regrade request not found")
    if attempt.student_id == user_id:
        raise CannotGradeOwnSubmission("nobody grades their own submission")
    if request.status != RegradeStatus.OPEN:
        raise Conflict("this request was answered already", code="REGRADE_ALREADY_ANSWERED")
    answer = session.scalar(
        select(QuizAnswer).where(
            QuizAnswer.attempt_id == attempt.id, QuizAnswer.question_id == request.question_id
        )
    )
    request.points_before = answer.score if answer else None
    accept = bool(input.get("accept"))
    if accept:
        question = session.get(Question, request.question_id)
        points = input.get("points")
        if points is None or not 0 <= float(points) <= question.points:
            raise ValidationFailed(
                f"an accepted request gives points, 0 to {question.points:g}",
                code="SCORE_OUT_OF_RANGE",
                field="points",
            )
        if answer is None:
            answer = QuizAnswer(attempt_id=attempt.id, question_id=question.id, response={})
            answer.version = 0
            session.add(answer)
        answer.score, answer.graded_by_id = round(float(points), 2), user_id
        session.flush()
        retotal(session, attempt, quiz)
    request.points_after = answer.score if answer else None
    request.status = RegradeStatus.ACCEPTED if accept else RegradeStatus.REJECTED
    request.response = plain_text(input.get("response") or "")[:5000]
    request.answered_by_id, request.answered_at = user_id, utcnow()
    session.flush()
    return view(request)


def quiz_regrade_requests(
    session: Session, viewer: Viewer, *, quiz_id: Any, status: Any = None
) -> list[dict]:
    """Instructors: every request of the quiz; students: their own."""
    quiz = visible_quiz(session, viewer, quiz_id)
    query = (
        select(RegradeRequest)
        .join(QuizAttempt, QuizAttempt.id == RegradeRequest.attempt_id)
        .where(QuizAttempt.quiz_id == quiz.id)
    )
    if not access.teaches(session, viewer, quiz.course_id):
        query = query.where(RegradeRequest.student_id == require_authenticated(viewer))
    if status is not None:
        query = query.where(RegradeRequest.status == RegradeStatus(status))
    return [view(r) for r in session.scalars(query.order_by(RegradeRequest.created_at))]
