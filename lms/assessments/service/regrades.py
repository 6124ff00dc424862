"""Regrade requests: a student asks, with a reason, for one answer of a closed attempt to be
looked at again; an instructor accepts (with new points) or rejects, with a response. The
request row is the audit trail: who answered, when, points before and after."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.assessments import access
from lms.assessments.errors import (
    AttemptClosed,
    CannotGradeOwnSubmission,
    QuestionNotInAttempt,
    RegradeRequestNotFound,
)
from lms.assessments.models import (
    AttemptStatus,
    Question,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    RegradeRequest,
    RegradeStatus,
)
from lms.assessments.service.attempts import _own_attempt, _retotal
from lms.assessments.service.quizzes import visible_quiz
from lms.errors import Conflict, ValidationFailed
from lms.models import utcnow
from lms.sanitize import plain_text
from lms.security import Viewer, require_authenticated


def view(request: RegradeRequest) -> dict[str, Any]:
    return {c.key: getattr(request, c.key) for c in RegradeRequest.__table__.columns} | {
        "submission_id": request.attempt_id
    }


def request_quiz_regrade(
    session: Session, viewer: Viewer, *, submission_id: Any, input: dict[str, Any]
) -> dict:
    attempt = _own_attempt(session, viewer, submission_id)
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
        _retotal(session, attempt, quiz)
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
