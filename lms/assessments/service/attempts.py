"""Taking a quiz: start, autosave answers, submit, and the server-kept deadline.

An attempt's deadline is `min(start + time limit, quiz close)`, fixed and shown from the
start. Answers are accepted until the deadline plus the quiz's grace period; the attempt is
then closed and graded by whichever comes first: `submitQuiz`, a read of the attempt, or
the scheduled sweep (`close_expired`). Closing takes the attempt's row lock and is a no-op
on a closed attempt, so it happens once.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms.analytics.service import record_many
from lms.assessments import access
from lms.assessments.errors import (
    AttemptClosed,
    AttemptLimitReached,
    DeadlinePassed,
    InvalidOption,
    QuestionLocked,
    QuestionNotInAttempt,
    QuizHasNoQuestions,
    QuizNotOpen,
    QuizSubmissionNotFound,
    StaleAnswerVersion,
)
from lms.assessments.models import (
    MANUAL_TYPES,
    AttemptStatus,
    ClosedBy,
    Navigation,
    Question,
    QuestionType,
    Quiz,
    QuizAnswer,
    QuizAttempt,
)
from lms.assessments import grading
from lms.assessments.service import files
from lms.assessments.service.quizzes import (
    is_open,
    quiz_questions,
    visible_quiz,
    visible_quiz_with_standing,
)
from lms.assessments.service.views import answer_view, attempt_view
from lms.assessments.settings import assessment_settings
from lms.enrollments import service as enrollments
from lms.enrollments.access import enrollment_id_of
from lms.errors import Forbidden, LmsError, ValidationFailed
from lms.models import new_id, utcnow
from lms.notifications.service import notify
from lms.security import Viewer, require_authenticated

SHUFFLED_OPTIONS = (
    QuestionType.SINGLE_CHOICE,
    QuestionType.MULTIPLE_RESPONSE,
    QuestionType.MATCHING,
)
MAX_ESSAY = 50_000


def _lock_student(session: Session, quiz_id: uuid.UUID, student_id: uuid.UUID) -> None:
    """One start at a time per student and quiz (two tabs cannot both take the last try)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"quiz-attempt:{quiz_id}:{student_id}"},
        )


def _draw(session: Session, quiz: Quiz, seed: int) -> tuple[list[Question], dict]:
    """The attempt's questions and option orders, reproducible from `seed`."""
    rng = random.Random(seed)
    chosen = quiz_questions(session, quiz)
    if quiz.bank_draw_count:
        bank = list(
            session.scalars(
                select(Question)
                .where(Question.course_id == quiz.course_id, Question.quiz_id.is_(None))
                .order_by(Question.id)
            )
        )
        chosen += rng.sample(bank, min(quiz.bank_draw_count, len(bank)))
    if quiz.shuffle_questions:
        rng.shuffle(chosen)
    orders = {}
    for question in chosen:
        ids = [o["id"] for o in question.options]
        if question.type == QuestionType.ORDERING:
            # Always shuffled, and never shown in the right order: that would be the answer.
            rng.shuffle(ids)
            if ids == question.key.get("order"):
                ids = ids[1:] + ids[:1]
            orders[str(question.id)] = ids
        elif quiz.shuffle_options and question.type in SHUFFLED_OPTIONS:
            rng.shuffle(ids)
            orders[str(question.id)] = ids
    return chosen, orders


def start_quiz_attempt(session: Session, viewer: Viewer, *, quiz_id: Any) -> dict:
    """A new attempt, or the one still in progress (a student resuming after a disconnect)."""
    quiz, standing = visible_quiz_with_standing(session, viewer, quiz_id)
    student_id = access.require_student(session, viewer, quiz.course_id, known=standing)
    _lock_student(session, quiz.id, student_id)
    now = utcnow()
    attempts = list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.quiz_id == quiz.id, QuizAttempt.student_id == student_id)
            .order_by(QuizAttempt.number)
            .with_for_update()
        )
    )
    for attempt in attempts:
        if attempt.status == AttemptStatus.IN_PROGRESS:
            if attempt.closes_at is None or now <= attempt.closes_at:
                return attempt_view(session, viewer, attempt, quiz, instructor=standing.teaches)
            close_attempt(session, attempt, quiz, ClosedBy.DEADLINE)
    if not is_open(quiz, now):
        raise QuizNotOpen("this quiz is not open now", opensAt=_iso(quiz.opens_at))
    if quiz.attempts_allowed is not None and len(attempts) >= quiz.attempts_allowed:
        raise AttemptLimitReached(
            f"all {quiz.attempts_allowed} attempts are used", attemptsAllowed=quiz.attempts_allowed
        )
    seed = random.SystemRandom().randrange(2**31)
    questions, orders = _draw(session, quiz, seed)
    if not questions:
        raise QuizHasNoQuestions("this quiz has no questions")
    limit_end = _plus(now, quiz.time_limit_seconds) if quiz.time_limit_seconds else None
    ends = [t for t in (limit_end, quiz.closes_at) if t]
    deadline = min(ends) if ends else None
    attempt = QuizAttempt(
        quiz_id=quiz.id,
        student_id=student_id,
        number=len(attempts) + 1,
        status=AttemptStatus.IN_PROGRESS,
        seed=seed,
        question_ids=[str(q.id) for q in questions],
        option_orders=orders,
        current_position=0,
        started_at=now,
        deadline=deadline,
        closes_at=_plus(deadline, quiz.grace_seconds),
        max_score=round(sum(q.points for q in questions), 2),
    )
    session.add(attempt)
    session.flush()
    by_id = {question.id: question for question in questions}
    return attempt_view(
        session, viewer, attempt, quiz, instructor=standing.teaches, questions=by_id, answers={}
    )


def _plus(moment, seconds):
    """`moment` plus `seconds` (None stays None)."""
    return moment + timedelta(seconds=seconds or 0) if moment is not None else None


def _iso(moment):
    return moment.isoformat() if moment else None


def own_attempt(session: Session, viewer: Viewer, submission_id: Any) -> QuizAttempt:
    """The viewer's own attempt, its row locked; anyone else's is "not found"."""
    user_id = require_authenticated(viewer)
    attempt_id = access.parse_id(submission_id, QuizSubmissionNotFound, "quiz submission")
    attempt = session.get(QuizAttempt, attempt_id, with_for_update=True)
    if attempt is None or attempt.student_id != user_id:
        raise QuizSubmissionNotFound("quiz submission not found")
    return attempt


def _response(question: Question, data: dict[str, Any], attempt: QuizAttempt, upload) -> dict:
    """The stored form of an answer, refusing ids the question does not have; `upload(ref)`
    checks and copies a file response's upload (see `files.checked`)."""
    kind = question.type
    ids = {o["id"] for o in question.options}

    def known(values, subset=ids) -> list[str]:
        values = [str(v) for v in values or []]
        if any(v not in subset for v in values) or len(set(values)) != len(values):
            raise InvalidOption("an option id is not one of this question's options")
        return values

    if kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_RESPONSE):
        selected = known(data.get("selected_option_ids"))
        if kind == QuestionType.SINGLE_CHOICE and len(selected) > 1:
            raise InvalidOption("choose one option")
        return {"selected": selected}
    if kind == QuestionType.TRUE_FALSE:
        value = data.get("boolean_value")
        return {"value": None if value is None else bool(value)}
    if kind in (QuestionType.SHORT_ANSWER, QuestionType.NUMERICAL, QuestionType.ESSAY):
        answer = data.get("text") or ""
        limit = MAX_ESSAY if kind == QuestionType.ESSAY else grading.MAX_TEXT
        if len(answer) > limit:
            raise ValidationFailed(f"an answer is at most {limit} characters", field="text")
        return {"text": answer}
    if kind == QuestionType.MATCHING:
        left = {o["id"] for o in question.options if o.get("side") == "LEFT"}
        right = {o["id"] for o in question.options if o.get("side") == "RIGHT"}
        pairs = data.get("pairs") or []
        known([p["left_id"] for p in pairs], left)
        for p in pairs:
            known([p["right_id"]], right)
        return {"pairs": {p["left_id"]: p["right_id"] for p in pairs}}
    if kind == QuestionType.ORDERING:
        return {"order": known(data.get("ordered_option_ids"))}
    if kind == QuestionType.FILL_IN_BLANKS:
        blanks = [str(b)[: grading.MAX_TEXT] for b in data.get("blanks") or []]
        if len(blanks) > len(question.key.get("blanks", [])):
            raise ValidationFailed("more blanks than the question has", field="blanks")
        return {"blanks": blanks}
    if kind == QuestionType.FILE_RESPONSE:
        ref = data.get("file_asset_id")
        return {"file": upload(ref, f"quiz/{attempt.id}/{question.id}") if ref else None}
    raise ValidationFailed("unknown question type")  # unreachable: the enum is closed


# The save path's statements, built once with bound parameters (not per request): building
# and keying a statement of this size costs about as much CPU as the rest of the save, and a
# prebuilt one keeps its compiled-cache key.
_SAVE_READ = (
    select(QuizAttempt, Quiz.navigation, Quiz.course_id, Question, QuizAnswer)
    .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
    .outerjoin(Question, Question.id == bindparam("question_id"))
    .outerjoin(
        QuizAnswer,
        (QuizAnswer.attempt_id == QuizAttempt.id)
        & (QuizAnswer.question_id == bindparam("question_id")),
    )
    .where(QuizAttempt.id == bindparam("attempt_id"))
    .with_for_update(of=QuizAttempt)
)
# The writes are Core statements on the table: the ORM's bulk path would also evaluate the
# WHERE against the session's objects, against the bound parameters' empty values.
_ANSWERS = QuizAnswer.__table__
_ANSWER_UPDATE = (
    update(_ANSWERS)
    .where(_ANSWERS.c.id == bindparam("answer_id"))
    .where(_ANSWERS.c.version == bindparam("read_version"))
    .values(
        response=bindparam("response", type_=_ANSWERS.c.response.type),
        version=bindparam("version", type_=_ANSWERS.c.version.type),
        saved_at=bindparam("saved_at", type_=_ANSWERS.c.saved_at.type),
    )
    .returning(_ANSWERS.c.id)
)
_ANSWER_INSERTS: dict[str, Any] = {}


def _answer_insert(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id of a first answer, for this dialect."""
    statement = _ANSWER_INSERTS.get(dialect)
    if statement is None:
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        columns = {
            name: bindparam(name, type_=_ANSWERS.c[name].type)
            for name in ("id", "attempt_id", "question_id", "response", "saved_at")
        }
        statement = _ANSWER_INSERTS[dialect] = (
            make(_ANSWERS)
            .values(**columns, version=1, feedback="")
            .on_conflict_do_nothing(index_elements=["attempt_id", "question_id"])
            .returning(_ANSWERS.c.id)
        )
    return statement


def submit_quiz_answer(
    session: Session, viewer: Viewer, *, submission_id: Any, input: dict[str, Any]
) -> dict:
    """Save one answer. `version` is the version the client last saw (0: none yet); a save
    based on an older version is refused, so a second tab cannot silently overwrite. The
    same save sent twice (a retry after a lost reply) is answered with the stored answer.

    The hot path of a quiz: three statements (the attempt locked, with its quiz's navigation,
    the question and this attempt's answer to it, in one; the version-guarded write; plus the
    viewer's lookup), so the attempt's lock is held across one round trip before COMMIT."""
    user_id = require_authenticated(viewer)
    attempt_id = access.parse_id(submission_id, QuizSubmissionNotFound, "quiz submission")
    question_id = str(input.get("question_id"))
    try:
        question_key = uuid.UUID(question_id)
    except ValueError:
        raise QuestionNotInAttempt("that question is not part of this attempt") from None
    found = session.execute(
        _SAVE_READ, {"attempt_id": attempt_id, "question_id": question_key}
    ).first()
    if found is None or found[0].student_id != user_id:
        raise QuizSubmissionNotFound("quiz submission not found")
    attempt, navigation, course_id, question, answer = found
    if attempt.status != AttemptStatus.IN_PROGRESS:
        raise AttemptClosed("this attempt is closed")
    if attempt.closes_at is not None and utcnow() > attempt.closes_at:
        raise DeadlinePassed("the time for this attempt is up", deadline=_iso(attempt.deadline))
    # A question removed from the quiz since the attempt drew it is gone (None) as well.
    if question_id not in attempt.question_ids or question is None:
        raise QuestionNotInAttempt("that question is not part of this attempt")
    position = attempt.question_ids.index(question_id)
    if navigation == Navigation.SEQUENTIAL:
        if position < attempt.current_position:
            raise QuestionLocked("sequential quiz: earlier questions cannot be changed")
        attempt.current_position = position

    def upload(ref, scope: str) -> dict:
        limit = assessment_settings().max_file_bytes
        checked = files.checked(
            session, viewer, ref, course_id=course_id, allowed=[], max_bytes=limit
        )
        return files.store(scope, *checked, ref)

    response = _response(question, input, attempt, upload)
    base = int(input.get("version") or 0)
    current = answer.version if answer else 0
    if answer is not None and base == current - 1 and answer.response == response:
        return answer_view(answer, scores=False, feedback=False)  # a retried save
    if base != current:
        raise StaleAnswerVersion(
            f"this answer was saved elsewhere (version {current})", currentVersion=current
        )
    saved = _write_answer(session, attempt.id, question.id, answer, response)
    if saved is None:  # another tab's save committed while we read: it wins, we say so
        current = session.scalar(
            select(QuizAnswer.version).where(
                QuizAnswer.attempt_id == attempt.id, QuizAnswer.question_id == question.id
            )
        )
        raise StaleAnswerVersion(
            f"this answer was saved elsewhere (version {current})", currentVersion=current
        )
    if navigation == Navigation.SEQUENTIAL:
        session.flush()  # the attempt's position
    return saved


def _write_answer(
    session: Session,
    attempt_id: uuid.UUID,
    question_id: uuid.UUID,
    answer: QuizAnswer | None,
    response: dict,
) -> dict | None:
    """Write the next version of an answer in one statement, only if the version read is still
    the stored one (under READ COMMITTED a row read in a join may be older than the lock it
    waited for); None when another save got there first."""
    now = utcnow()
    values = {"response": response, "saved_at": now}
    if answer is None:
        version = 1
        statement = _answer_insert(session.get_bind().dialect.name)
        values.update(id=new_id(), attempt_id=attempt_id, question_id=question_id)
    else:
        version = answer.version + 1
        statement = _ANSWER_UPDATE
        values.update(answer_id=answer.id, read_version=answer.version, version=version)
    written = session.execute(statement, values).scalar()
    if written is None:
        return None
    view = {"id": written, "question_id": question_id, "response": response, "version": version}
    return {**view, "saved_at": now, "score": None, "feedback": None}


def submit_quiz(session: Session, viewer: Viewer, *, submission_id: Any) -> dict:
    """Close and grade the attempt (idempotent: a closed attempt is returned as it is)."""
    attempt = own_attempt(session, viewer, submission_id)
    quiz = session.get(Quiz, attempt.quiz_id)
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return attempt_view(session, viewer, attempt, quiz)
    late = attempt.closes_at is not None and utcnow() > attempt.closes_at
    questions, answers = close_attempt(
        session, attempt, quiz, ClosedBy.DEADLINE if late else ClosedBy.STUDENT
    )
    return attempt_view(session, viewer, attempt, quiz, questions=questions, answers=answers)


def close_attempt(
    session: Session, attempt: QuizAttempt, quiz: Quiz, by: ClosedBy
) -> tuple[dict[uuid.UUID, Question], dict[uuid.UUID, QuizAnswer]]:
    """Grade every automatically gradable answer; manual ones wait (NEEDS_GRADING).
    The caller holds the attempt's row lock. Returns the attempt's questions and answers
    by question id (none when it was closed already)."""
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return {}, {}
    ids = [uuid.UUID(i) for i in attempt.question_ids]
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    answers = {
        a.question_id: a
        for a in session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id))
    }
    for qid in ids:
        question = questions.get(qid)
        answer = answers.get(qid)
        if question is None or answer is None:
            continue
        answer.score = _auto_score(question, answer, quiz)
    attempt.submitted_at = utcnow()
    attempt.closed_by = by
    attempt.status = AttemptStatus.NEEDS_GRADING
    _finish_if_graded(session, attempt, quiz, questions, answers)
    return questions, answers


def _auto_score(question: Question, answer: QuizAnswer, quiz: Quiz) -> float | None:
    return grading.score(
        question.type,
        question.points,
        answer.response,
        question.key,
        question.options,
        negative_marking=quiz.negative_marking,
    )


def _finish_if_graded(session, attempt, quiz, questions, answers, *, notify_student=False):
    """Total the attempt once no answered manual question waits for a grader (an
    unanswered one counts 0)."""
    pending = [
        a
        for qid, a in answers.items()
        if a.score is None and qid in questions and questions[qid].type in MANUAL_TYPES
    ]
    total = sum(a.score or 0 for qid, a in answers.items() if qid in questions)
    if pending:
        attempt.status, attempt.score, attempt.passed = AttemptStatus.NEEDS_GRADING, None, None
        return
    first_grade = attempt.status != AttemptStatus.GRADED
    attempt.score = round(max(0.0, total), 2)  # negative marking never takes a quiz below 0
    attempt.status = AttemptStatus.GRADED
    percent = 100 * attempt.score / attempt.max_score if attempt.max_score else 0.0
    attempt.passed = None if quiz.passing_percent is None else percent >= quiz.passing_percent
    if first_grade:
        _record_learning(session, attempt, quiz, questions, answers)
    if attempt.passed and quiz.lesson_id is not None:
        _complete_lesson(session, attempt.student_id, quiz.course_id, quiz.lesson_id)
    if notify_student:
        notify(
            session,
            user_id=attempt.student_id,
            type="GRADE_POSTED",
            title=f"{quiz.title}: graded",
            body=f"Attempt {attempt.number}: {attempt.score:g} / {attempt.max_score:g}",
            key=f"grade:quiz-attempt:{attempt.id}",
            data={"quizId": str(quiz.id), "submissionId": str(attempt.id)},
        )


def _complete_lesson(session: Session, student_id, course_id, lesson_id) -> None:
    """Passing completes the quiz's lesson in Enrollments (and so may issue a certificate).
    A lesson still locked by the course's order stays as it is."""
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
        pass


def close_expired(session: Session, *, limit: int) -> int:
    """The scheduled sweep: close and grade up to `limit` attempts past deadline + grace.
    SKIP LOCKED leaves attempts being answered or submitted right now to the next run."""
    now = utcnow()
    query = (
        select(QuizAttempt)
        .where(QuizAttempt.status == AttemptStatus.IN_PROGRESS, QuizAttempt.closes_at <= now)
        .order_by(QuizAttempt.closes_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    attempts = list(session.scalars(query))
    quizzes = {}
    for attempt in attempts:
        quiz = quizzes.get(attempt.quiz_id) or session.get(Quiz, attempt.quiz_id)
        quizzes[attempt.quiz_id] = quiz
        close_attempt(session, attempt, quiz, ClosedBy.DEADLINE)
    return len(attempts)


# --- reads -------------------------------------------------------------------------------


def _readable_attempt(session: Session, viewer: Viewer, submission_id: Any) -> QuizAttempt:
    user_id = require_authenticated(viewer)
    attempt_id = access.parse_id(submission_id, QuizSubmissionNotFound, "quiz submission")
    attempt = session.get(QuizAttempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise QuizSubmissionNotFound("quiz submission not found")
    if attempt.student_id != user_id:
        quiz = session.get(Quiz, attempt.quiz_id)
        if not access.teaches(session, viewer, quiz.course_id):
            raise QuizSubmissionNotFound("quiz submission not found")
    return attempt


def _expire(session: Session, attempt: QuizAttempt, quiz: Quiz) -> None:
    if (
        attempt.status == AttemptStatus.IN_PROGRESS
        and attempt.closes_at is not None
        and utcnow() > attempt.closes_at
    ):
        close_attempt(session, attempt, quiz, ClosedBy.DEADLINE)


def get_quiz_submission(session: Session, viewer: Viewer, *, id: Any) -> dict:
    """An attempt; reading one past its deadline closes it (run as a write)."""
    attempt = _readable_attempt(session, viewer, id)
    quiz = session.get(Quiz, attempt.quiz_id)
    _expire(session, attempt, quiz)
    return attempt_view(session, viewer, attempt, quiz)


def quiz_submissions_by_student(
    session: Session, viewer: Viewer, *, quiz_id: Any, student_id: Any = None
) -> list[dict]:
    """The viewer's attempts; instructors may name a student (`studentId`)."""
    quiz, standing = visible_quiz_with_standing(session, viewer, quiz_id)
    user_id = require_authenticated(viewer)
    target = user_id
    if student_id is not None and str(student_id) != str(user_id):
        if not standing.teaches:
            raise Forbidden("students see only their own attempts", code="FORBIDDEN")
        target = access.parse_id(student_id, QuizSubmissionNotFound, "student")
    attempts = list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.quiz_id == quiz.id, QuizAttempt.student_id == target)
            .order_by(QuizAttempt.number)
            .with_for_update()
        )
    )
    for attempt in attempts:
        _expire(session, attempt, quiz)
    return _attempt_views(session, viewer, attempts, quiz, instructor=standing.teaches)


def quiz_submissions(
    session: Session, viewer: Viewer, *, quiz_id: Any, status: Any = None
) -> list[dict]:
    """Every attempt of a quiz, for its instructors (`status: NEEDS_GRADING` to grade)."""
    quiz = visible_quiz(session, viewer, quiz_id)
    access.require_instructor(session, viewer, quiz.course_id)
    query = select(QuizAttempt).where(QuizAttempt.quiz_id == quiz.id)
    if status is not None:
        query = query.where(QuizAttempt.status == AttemptStatus(status))
    attempts = list(session.scalars(query.order_by(QuizAttempt.started_at)))
    return _attempt_views(session, viewer, attempts, quiz, instructor=True)


def _attempt_views(
    session: Session, viewer: Viewer, attempts: list[QuizAttempt], quiz: Quiz, *, instructor: bool
) -> list[dict]:
    """`attempt_view` of each, their questions and answers read in two statements (an
    instructor's list of 500 attempts took three statements per attempt)."""
    if not attempts:
        return []
    ids = {uuid.UUID(i) for attempt in attempts for i in attempt.question_ids}
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    answers: dict[uuid.UUID, dict[uuid.UUID, QuizAnswer]] = {a.id: {} for a in attempts}
    for answer in session.scalars(
        select(QuizAnswer).where(QuizAnswer.attempt_id.in_(list(answers)))
    ):
        answers[answer.attempt_id][answer.question_id] = answer
    return [
        attempt_view(
            session,
            viewer,
            attempt,
            quiz,
            instructor=instructor,
            questions=questions,
            answers=answers[attempt.id],
        )
        for attempt in attempts
    ]


# --- manual grading and regrades ---------------------------------------------------------


def grade_quiz_answer(
    session: Session, viewer: Viewer, *, submission_id: Any, input: dict[str, Any]
) -> dict:
    """A grader's points for one answer (essays, file responses; or an override)."""
    user_id = require_authenticated(viewer)
    attempt = _readable_attempt(session, viewer, submission_id)
    quiz = session.get(Quiz, attempt.quiz_id)
    access.require_instructor(session, viewer, quiz.course_id)
    if attempt.student_id == user_id:
        from lms.assessments.errors import CannotGradeOwnSubmission

        raise CannotGradeOwnSubmission("nobody grades their own submission")
    _expire(session, attempt, quiz)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        raise AttemptClosed("the attempt is still in progress", code="ATTEMPT_IN_PROGRESS")
    question_id = str(input.get("question_id"))
    if question_id not in attempt.question_ids:
        raise QuestionNotInAttempt("that question is not part of this attempt")
    question = session.get(Question, uuid.UUID(question_id))
    points = float(input["points"])
    if not 0 <= points <= question.points:
        raise ValidationFailed(
            f"points are 0 to {question.points:g}", code="SCORE_OUT_OF_RANGE", field="points"
        )
    answer = session.scalar(
        select(QuizAnswer).where(
            QuizAnswer.attempt_id == attempt.id, QuizAnswer.question_id == question.id
        )
    )
    if answer is None:
        answer = QuizAnswer(attempt_id=attempt.id, question_id=question.id, response={}, version=0)
        session.add(answer)
    answer.score, answer.graded_by_id = round(points, 2), user_id
    answer.feedback = str(input.get("feedback") or "")[:10_000]
    session.flush()
    retotal(session, attempt, quiz, notify_student=True)
    return attempt_view(session, viewer, attempt, quiz)


def retotal(session: Session, attempt: QuizAttempt, quiz: Quiz, *, notify_student=False):
    """Total the attempt again from its stored scores (after a manual grade or a regrade)."""
    ids = [uuid.UUID(i) for i in attempt.question_ids]
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    answers = {
        a.question_id: a
        for a in session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id))
    }
    was = attempt.status
    _finish_if_graded(
        session,
        attempt,
        quiz,
        questions,
        answers,
        notify_student=notify_student and was != AttemptStatus.GRADED,
    )


def regrade_question(session: Session, question: Question) -> dict[str, Any]:
    """After a correction: regrade the answers of closed attempts that used the question.
    Returns the before/after report the educator sees."""
    if question.type in MANUAL_TYPES:
        return {"attempts": 0, "changes": []}
    rows = session.execute(
        select(QuizAnswer, QuizAttempt)
        .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
        .where(
            QuizAnswer.question_id == question.id,
            QuizAttempt.status != AttemptStatus.IN_PROGRESS,
        )
        .with_for_update(of=QuizAttempt)
    ).all()
    changes = []
    for answer, attempt in rows:
        quiz = session.get(Quiz, attempt.quiz_id)
        before_answer, before_total = answer.score, attempt.score
        answer.score = _auto_score(question, answer, quiz)
        session.flush()
        retotal(session, attempt, quiz)
        if answer.score != before_answer:
            changes.append(
                {
                    "submission_id": attempt.id,
                    "student_id": attempt.student_id,
                    "answer_before": before_answer,
                    "answer_after": answer.score,
                    "score_before": before_total,
                    "score_after": attempt.score,
                }
            )
    return {"attempts": len(rows), "changes": changes}


def count_open(session: Session) -> int:
    return session.scalar(
        select(func.count()).where(QuizAttempt.status == AttemptStatus.IN_PROGRESS)
    )


def _record_learning(session, attempt, quiz, questions, answers) -> None:
    """The graded attempt and each answered question as learning events (analytics reads
    grades from `scored` and item difficulty from `answered`), in one INSERT."""
    context = {"attempt": attempt.number, "submissionId": str(attempt.id)}
    about = {"actor_id": attempt.student_id, "course_id": quiz.course_id}
    events = []
    for qid, answer in answers.items():
        question = questions.get(qid)
        if question is None or answer.score is None or not question.points:
            continue
        scaled = max(0.0, answer.score / question.points)
        score = {"raw": answer.score, "max": question.points, "scaled": scaled}
        events.append(
            {
                **about,
                "verb": "answered",
                "object_type": "question",
                "object_id": qid,
                "result": {"score": score},
                "context": {**context, "quizId": str(quiz.id)},
            }
        )
    scaled = attempt.score / attempt.max_score if attempt.max_score else 0.0
    result = {"score": {"raw": attempt.score, "max": attempt.max_score, "scaled": scaled}}
    if attempt.passed is not None:
        result["success"] = attempt.passed
    events.append(
        {
            **about,
            "verb": "scored",
            "object_type": "quiz",
            "object_id": quiz.id,
            "result": result,
            "context": context,
        }
    )
    record_many(session, events)
