"""Authoring quizzes: settings, their questions, a course's question bank, publishing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from lms.assessments import access
from lms.assessments.errors import QuestionNotFound, QuizHasNoQuestions, QuizNotFound
from lms.assessments.models import (
    GradingMethod,
    Navigation,
    Question,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    QuizStatus,
    ReviewPolicy,
)
from lms.assessments.service import questions as question_input
from lms.assessments.service.views import question_view, quiz_view
from lms.courses import access as courses
from lms.errors import NotFound, ValidationFailed
from lms.models import utcnow
from lms.sanitize import plain_text, rich_text
from lms.security import Viewer

SETTINGS = {
    "opens_at": None,
    "closes_at": None,
    "time_limit_seconds": None,
    "grace_seconds": 0,
    "attempts_allowed": None,
    "grading_method": GradingMethod.HIGHEST,
    "shuffle_questions": False,
    "shuffle_options": False,
    "bank_draw_count": 0,
    "navigation": Navigation.FREE,
    "show_answers": ReviewPolicy.AFTER_CLOSE,
    "show_scores": ReviewPolicy.AFTER_ATTEMPT,
    "passing_percent": None,
    "negative_marking": False,
}


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code="BAD_USER_INPUT", field=field)


def _lesson(session: Session, course_id: uuid.UUID, raw: Any) -> uuid.UUID | None:
    if raw is None:
        return None
    lesson_id = access.parse_id(raw, NotFound, "lesson")
    if courses.lesson_course_id(session, lesson_id) != course_id:
        raise NotFound("lesson not found in this course", code="LESSON_NOT_FOUND")
    return lesson_id


def _apply_settings(quiz: Quiz, data: dict[str, Any]) -> None:
    for name in SETTINGS:
        if name in data:
            setattr(quiz, name, data[name] if data[name] is not None else SETTINGS[name])
    if "title" in data:
        title = plain_text(data["title"])
        if not 1 <= len(title) <= 200:
            raise _bad("a title of 1 to 200 characters is required", "title")
        quiz.title = title
    if "description" in data:
        quiz.description = rich_text(data["description"] or "")
    if quiz.opens_at and quiz.closes_at and quiz.closes_at <= quiz.opens_at:
        raise _bad("closesAt must be after opensAt", "closesAt")
    if quiz.time_limit_seconds is not None and not 10 <= quiz.time_limit_seconds <= 7 * 86400:
        raise _bad("timeLimitSeconds is 10 seconds to 7 days", "timeLimitSeconds")
    if not 0 <= quiz.grace_seconds <= 3600:
        raise _bad("graceSeconds is 0 to 3600", "graceSeconds")
    if quiz.attempts_allowed is not None and quiz.attempts_allowed < 1:
        raise _bad("attemptsAllowed is at least 1 (null: unlimited)", "attemptsAllowed")
    if not 0 <= quiz.bank_draw_count <= 500:
        raise _bad("bankDrawCount is 0 to 500", "bankDrawCount")
    if quiz.passing_percent is not None and not 0 <= quiz.passing_percent <= 100:
        raise _bad("passingPercent is 0 to 100", "passingPercent")


def _question_count(session: Session, quiz: Quiz) -> int:
    own = session.scalar(select(func.count()).where(Question.quiz_id == quiz.id)) or 0
    if quiz.bank_draw_count:
        bank = session.scalar(
            select(func.count()).where(
                Question.course_id == quiz.course_id, Question.quiz_id.is_(None)
            )
        )
        own += min(quiz.bank_draw_count, bank or 0)
    return own


def _check_publishable(session: Session, quiz: Quiz) -> None:
    if _question_count(session, quiz) == 0:
        raise QuizHasNoQuestions("a quiz needs at least one question to be published")


def _add_questions(
    session: Session, quiz_id, course_id, raws: list[dict], start: int
) -> list[Question]:
    added = []
    for offset, raw in enumerate(raws):
        position = raw.get("position")
        added.append(
            Question(
                course_id=course_id,
                quiz_id=quiz_id,
                position=start + offset if position is None else position,
                **question_input.build(raw),
            )
        )
    session.add_all(added)
    session.flush()
    return added


def create_quiz(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> dict:
    """A quiz with its questions, a draft unless `publish` (then it needs questions)."""
    course_id = access.parse_id(input.get("course_id"), NotFound, "course")
    user_id = access.require_instructor(session, viewer, course_id)
    quiz = Quiz(
        course_id=course_id,
        lesson_id=_lesson(session, course_id, input.get("lesson_id")),
        created_by_id=user_id,
        **SETTINGS,
    )
    _apply_settings(quiz, {"title": input.get("title"), **input})
    session.add(quiz)
    session.flush()
    _add_questions(session, quiz.id, course_id, input.get("questions") or [], 0)
    if input.get("publish"):
        _check_publishable(session, quiz)
        quiz.status = QuizStatus.PUBLISHED
    return quiz_view(session, viewer, quiz)


def editable_quiz(session: Session, viewer: Viewer, quiz_id: Any, *, lock=False) -> Quiz:
    query = select(Quiz).where(Quiz.id == access.parse_id(quiz_id, QuizNotFound, "quiz"))
    quiz = session.scalar(query.with_for_update() if lock else query)
    if quiz is None or not access.may_read_course_work(session, viewer, quiz.course_id):
        raise QuizNotFound("quiz not found")
    access.require_instructor(session, viewer, quiz.course_id)
    return quiz


def visible_quiz(session: Session, viewer: Viewer, quiz_id: Any) -> Quiz:
    """Instructors see drafts; enrolled students published quizzes; others nothing."""
    return visible_quiz_with_standing(session, viewer, quiz_id)[0]


def visible_quiz_with_standing(
    session: Session, viewer: Viewer, quiz_id: Any
) -> tuple[Quiz, access.Standing]:
    """`visible_quiz` and what the viewer is to its course, for the caller to reuse."""
    quiz = session.get(Quiz, access.parse_id(quiz_id, QuizNotFound, "quiz"))
    if quiz is None:
        raise QuizNotFound("quiz not found")
    standing = access.standing(session, viewer, quiz.course_id)
    if not standing.reads_course_work:
        raise QuizNotFound("quiz not found")
    if quiz.status != QuizStatus.PUBLISHED and not standing.teaches:
        raise QuizNotFound("quiz not found")
    return quiz, standing


def get_quiz(session: Session, viewer: Viewer, *, id: Any) -> dict:
    quiz, standing = visible_quiz_with_standing(session, viewer, id)
    return quiz_view(session, viewer, quiz, instructor=standing.teaches)


def update_quiz(session: Session, viewer: Viewer, *, id: Any, input: dict[str, Any]) -> dict:
    quiz = editable_quiz(session, viewer, id, lock=True)
    if "lesson_id" in input:
        quiz.lesson_id = _lesson(session, quiz.course_id, input["lesson_id"])
    _apply_settings(quiz, input)
    if input.get("publish") is True:
        _check_publishable(session, quiz)
        quiz.status = QuizStatus.PUBLISHED
    elif input.get("publish") is False:
        quiz.status = QuizStatus.DRAFT
    quiz.updated_at = utcnow()
    return quiz_view(session, viewer, quiz)


def publish_quiz(session: Session, viewer: Viewer, *, id: Any) -> dict:
    return update_quiz(session, viewer, id=id, input={"publish": True})


def delete_quiz(session: Session, viewer: Viewer, *, id: Any) -> bool:
    """Deletes the quiz with its questions and attempts (cascade)."""
    quiz = editable_quiz(session, viewer, id, lock=True)
    session.execute(delete(Quiz).where(Quiz.id == quiz.id))
    return True


# --- questions and the bank --------------------------------------------------------------


def add_quiz_question(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> dict:
    """A question for a quiz (`quizId`), or for the course's bank (`courseId` alone)."""
    if input.get("quiz_id") is not None:
        quiz = editable_quiz(session, viewer, input["quiz_id"], lock=True)
        quiz_id, course_id = quiz.id, quiz.course_id
    else:
        course_id = access.parse_id(input.get("course_id"), NotFound, "course")
        access.require_instructor(session, viewer, course_id)
        quiz_id = None
    start = session.scalar(
        select(func.coalesce(func.max(Question.position) + 1, 0)).where(
            Question.course_id == course_id,
            Question.quiz_id == quiz_id if quiz_id else Question.quiz_id.is_(None),
        )
    )
    (question,) = _add_questions(session, quiz_id, course_id, [input["question"]], start)
    return question_view(question, with_key=True)


def editable_question(
    session: Session, viewer: Viewer, question_id: Any, *, lock: bool = True
) -> Question:
    """A question of a course the viewer teaches (QUESTION_NOT_FOUND for anyone else)."""
    question = session.get(
        Question, access.parse_id(question_id, QuestionNotFound, "question"), with_for_update=lock
    )
    if question is None or not access.teaches(session, viewer, question.course_id):
        raise QuestionNotFound("question not found")
    return question


def update_quiz_question(
    session: Session, viewer: Viewer, *, id: Any, input: dict[str, Any]
) -> dict:
    """Replace a question's content. Closed attempts that used it are regraded by a job whose
    before/after report comes back in `regrade` once it ran (`questionRegrades`)."""
    from lms.assessments.service.regrades import schedule_question_regrade

    question = editable_question(session, viewer, id)
    for name, value in question_input.build(input).items():
        setattr(question, name, value)
    if input.get("position") is not None:
        question.position = input["position"]
    question.revision += 1
    question.updated_at = utcnow()
    session.flush()
    return {
        "question": question_view(question, with_key=True),
        "regrade": schedule_question_regrade(session, viewer, question),
    }


def delete_quiz_question(session: Session, viewer: Viewer, *, id: Any) -> bool:
    question = editable_question(session, viewer, id)
    # Attempts list their questions: a quiz's question is in use once the quiz has attempts,
    # a bank question once someone answered it.
    used = session.scalar(
        select(exists().where(QuizAttempt.quiz_id == question.quiz_id))
        if question.quiz_id is not None
        else select(exists().where(QuizAnswer.question_id == question.id))
    )
    if used:
        raise ValidationFailed(
            "attempts used this question: correct it instead of deleting it",
            code="QUESTION_IN_USE",
        )
    session.delete(question)
    return True


def question_bank(session: Session, viewer: Viewer, *, course_id: Any) -> list[dict]:
    cid = access.parse_id(course_id, NotFound, "course")
    access.require_instructor(session, viewer, cid)
    rows = session.scalars(
        select(Question)
        .where(Question.course_id == cid, Question.quiz_id.is_(None))
        .order_by(Question.position, Question.created_at)
    )
    return [question_view(q, with_key=True) for q in rows]


def quiz_questions(session: Session, quiz: Quiz) -> list[Question]:
    return list(
        session.scalars(
            select(Question)
            .where(Question.quiz_id == quiz.id)
            .order_by(Question.position, Question.created_at)
        )
    )


def is_open(quiz: Quiz, now: datetime) -> bool:
    return (quiz.opens_at is None or quiz.opens_at <= now) and (
        quiz.closes_at is None or now < quiz.closes_at
    )
