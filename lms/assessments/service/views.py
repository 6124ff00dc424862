"""What the API shows: plain dicts, cut to what the viewer may see.

Students never get an answer key, option correctness, scores or feedback before the quiz's
review policy allows it; these views are the one place that decides, so no resolver can
leak a field by accident.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.assessments import access
from lms.assessments.models import (
    AttemptStatus,
    GradingMethod,
    Question,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    ReviewPolicy,
)
from lms.assessments.service.questions import blank_count
from lms.models import utcnow
from lms.security import Viewer


def question_view(
    question: Question,
    *,
    with_key: bool,
    option_order: list[str] | None = None,
    position: int | None = None,
) -> dict[str, Any]:
    options = question.options
    if option_order:
        by_id = {o["id"]: o for o in options}
        options = [by_id[i] for i in option_order if i in by_id]
    return {
        "id": question.id,
        "quiz_id": question.quiz_id,
        "course_id": question.course_id,
        "type": question.type,
        "prompt": question.prompt,
        "points": question.points,
        "position": question.position if position is None else position,
        "options": [{"id": o["id"], "text": o["text"], "side": o.get("side")} for o in options],
        "blank_count": blank_count(question.prompt),
        "answer_key": question.key if with_key else None,
        "feedback": question.feedback if with_key else None,
        "revision": question.revision,
    }


def quiz_view(
    session: Session, viewer: Viewer, quiz: Quiz, *, instructor: bool | None = None
) -> dict[str, Any]:
    """`instructor`: whether the viewer teaches the quiz's course, when the caller knows."""
    from lms.assessments.service.quizzes import quiz_questions

    if instructor is None:
        instructor = access.teaches(session, viewer, quiz.course_id)
    view = {c.key: getattr(quiz, c.key) for c in Quiz.__table__.columns}
    if instructor:
        own = quiz_questions(session, quiz)
        view["questions"] = [question_view(q, with_key=True) for q in own]
        view["question_count"] = len(own) + quiz.bank_draw_count
    else:  # students meet the questions in their attempt, never here: their number only
        view["questions"] = []
        view["question_count"] = _question_count(session, quiz) + quiz.bank_draw_count
    view["viewer_can_edit"] = instructor
    view["viewer_grade"] = (
        quiz_grade(session, quiz, viewer.user_id) if viewer.user_id and not instructor else None
    )
    return view


def _questions_by_id(session: Session, ids) -> dict[uuid.UUID, Question]:
    return {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}


def _question_count(session: Session, quiz: Quiz) -> int:
    count = select(func.count()).select_from(Question).where(Question.quiz_id == quiz.id)
    return session.scalar(count) or 0


def review_open(quiz: Quiz, attempt: QuizAttempt, policy: ReviewPolicy, now: datetime) -> bool:
    if attempt.status == AttemptStatus.IN_PROGRESS or policy == ReviewPolicy.NEVER:
        return False
    if policy == ReviewPolicy.AFTER_CLOSE:
        return quiz.closes_at is not None and now >= quiz.closes_at
    return True


def attempt_view(
    session: Session,
    viewer: Viewer,
    attempt: QuizAttempt,
    quiz: Quiz,
    *,
    instructor: bool | None = None,
    questions: dict[uuid.UUID, Question] | None = None,
    answers: dict[uuid.UUID, QuizAnswer] | None = None,
) -> dict[str, Any]:
    """What the caller already read (whether the viewer teaches the course, the attempt's
    questions and answers by question id) is used instead of being read again."""
    now = utcnow()
    if instructor is None:
        instructor = access.teaches(session, viewer, quiz.course_id)
    scores = instructor or review_open(quiz, attempt, quiz.show_scores, now)
    answers_shown = instructor or review_open(quiz, attempt, quiz.show_answers, now)
    ids = [uuid.UUID(i) for i in attempt.question_ids]
    by_id = questions if questions is not None else _questions_by_id(session, ids)
    if answers is None:
        answers = {
            a.question_id: a
            for a in session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id))
        }
    questions = [
        question_view(
            by_id[qid],
            with_key=answers_shown,
            option_order=attempt.option_orders.get(str(qid)),
            position=index,
        )
        for index, qid in enumerate(ids)
        if qid in by_id
    ]
    return {
        "id": attempt.id,
        "quiz_id": attempt.quiz_id,
        "student_id": attempt.student_id,
        "number": attempt.number,
        "status": attempt.status,
        "started_at": attempt.started_at,
        "deadline": attempt.deadline,
        "grace_ends_at": attempt.closes_at,
        "submitted_at": attempt.submitted_at,
        "closed_by": attempt.closed_by,
        "current_position": attempt.current_position,
        "navigation": quiz.navigation,
        "questions": questions,
        "answers": [
            answer_view(answers[q["id"]], scores=scores, feedback=answers_shown)
            for q in questions
            if q["id"] in answers
        ],
        "score": attempt.score if scores else None,
        "max_score": attempt.max_score,
        "percent": _percent(attempt) if scores else None,
        "passed": attempt.passed if scores else None,
    }


def answer_view(answer: QuizAnswer, *, scores: bool, feedback: bool) -> dict[str, Any]:
    return {
        "id": answer.id,
        "question_id": answer.question_id,
        "response": answer.response,
        "version": answer.version,
        "saved_at": answer.saved_at,
        "score": answer.score if scores else None,
        "feedback": answer.feedback if feedback else None,
    }


def _percent(attempt: QuizAttempt) -> float | None:
    if attempt.score is None or not attempt.max_score:
        return None
    return round(100 * attempt.score / attempt.max_score, 2)


def quiz_grade(session: Session, quiz: Quiz, student_id: uuid.UUID) -> float | None:
    """The student's grade on the quiz in percent, by the quiz's grading method, over the
    fully graded attempts."""
    attempts = list(
        session.scalars(
            select(QuizAttempt)
            .where(
                QuizAttempt.quiz_id == quiz.id,
                QuizAttempt.student_id == student_id,
                QuizAttempt.status == AttemptStatus.GRADED,
            )
            .order_by(QuizAttempt.number)
        )
    )
    percents = [p for p in (_percent(a) for a in attempts) if p is not None]
    if not percents:
        return None
    method = quiz.grading_method
    if method == GradingMethod.FIRST:
        return percents[0]
    if method == GradingMethod.LATEST:
        return percents[-1]
    if method == GradingMethod.AVERAGE:
        return round(sum(percents) / len(percents), 2)
    return max(percents)
