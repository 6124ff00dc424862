"""Assessments: quizzes, their questions (a quiz's own, or a course's question bank),
attempts and autosaved answers; assignments, their submissions and every version's history.

Question content, answer keys, rubrics and responses are JSON: their shape depends on the
question type, and they are always read and written whole. No ORM relationships.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class QuestionType(enum.StrEnum):
    SINGLE_CHOICE = "SINGLE_CHOICE"
    MULTIPLE_RESPONSE = "MULTIPLE_RESPONSE"
    TRUE_FALSE = "TRUE_FALSE"
    SHORT_ANSWER = "SHORT_ANSWER"
    NUMERICAL = "NUMERICAL"
    MATCHING = "MATCHING"
    ORDERING = "ORDERING"
    FILL_IN_BLANKS = "FILL_IN_BLANKS"
    ESSAY = "ESSAY"
    FILE_RESPONSE = "FILE_RESPONSE"


MANUAL_TYPES = frozenset({QuestionType.ESSAY, QuestionType.FILE_RESPONSE})


class QuizStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


class GradingMethod(enum.StrEnum):
    HIGHEST = "HIGHEST"
    LATEST = "LATEST"
    AVERAGE = "AVERAGE"
    FIRST = "FIRST"


class Navigation(enum.StrEnum):
    FREE = "FREE"
    SEQUENTIAL = "SEQUENTIAL"


class ReviewPolicy(enum.StrEnum):
    AFTER_ATTEMPT = "AFTER_ATTEMPT"
    AFTER_CLOSE = "AFTER_CLOSE"
    NEVER = "NEVER"


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    NEEDS_GRADING = "NEEDS_GRADING"  # closed; manual questions wait for a grader
    GRADED = "GRADED"


class ClosedBy(enum.StrEnum):
    STUDENT = "STUDENT"
    DEADLINE = "DEADLINE"


class SubmissionType(enum.StrEnum):
    TEXT = "TEXT"
    FILE = "FILE"
    TEXT_AND_FILE = "TEXT_AND_FILE"


class LateUnit(enum.StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"


class PostPolicy(enum.StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


class SubmissionStatus(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    GRADED = "GRADED"
    REVISION_REQUESTED = "REVISION_REQUESTED"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=24)


class Quiz(Base):
    __tablename__ = "assessment_quizzes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[QuizStatus] = mapped_column(_enum(QuizStatus), default=QuizStatus.DRAFT)
    opens_at: Mapped[datetime | None] = mapped_column()
    closes_at: Mapped[datetime | None] = mapped_column(index=True)
    time_limit_seconds: Mapped[int | None] = mapped_column()
    grace_seconds: Mapped[int] = mapped_column(default=0)
    attempts_allowed: Mapped[int | None] = mapped_column()  # None: unlimited
    grading_method: Mapped[GradingMethod] = mapped_column(
        _enum(GradingMethod), default=GradingMethod.HIGHEST
    )
    shuffle_questions: Mapped[bool] = mapped_column(default=False)
    shuffle_options: Mapped[bool] = mapped_column(default=False)
    bank_draw_count: Mapped[int] = mapped_column(default=0)  # questions drawn from the bank
    navigation: Mapped[Navigation] = mapped_column(_enum(Navigation), default=Navigation.FREE)
    show_answers: Mapped[ReviewPolicy] = mapped_column(
        _enum(ReviewPolicy), default=ReviewPolicy.AFTER_CLOSE
    )
    show_scores: Mapped[ReviewPolicy] = mapped_column(
        _enum(ReviewPolicy), default=ReviewPolicy.AFTER_ATTEMPT
    )
    passing_percent: Mapped[float | None] = mapped_column()
    negative_marking: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """A quiz's question (`quiz_id` set) or a question of the course's bank (`quiz_id` None)."""

    __tablename__ = "assessment_questions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    quiz_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assessment_quizzes.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[QuestionType] = mapped_column(_enum(QuestionType))
    prompt: Mapped[str] = mapped_column(Text)
    points: Mapped[float] = mapped_column(default=1.0)
    # [{"id", "text", "side"?}]: choices, matching's two sides, ordering's items.
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    key: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # never sent to students
    feedback: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuizAttempt(Base):
    """A `QuizSubmission` in the API. Its questions, their order and option orders are fixed
    at start from `seed`, so a resumed attempt shows exactly what it showed before."""

    __tablename__ = "assessment_quiz_attempts"
    __table_args__ = (
        UniqueConstraint("quiz_id", "student_id", "number"),
        Index("ix_assessment_quiz_attempts_open_deadline", "status", "closes_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    quiz_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_quizzes.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()
    status: Mapped[AttemptStatus] = mapped_column(
        _enum(AttemptStatus), default=AttemptStatus.IN_PROGRESS
    )
    seed: Mapped[int] = mapped_column()
    question_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    option_orders: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    current_position: Mapped[int] = mapped_column(default=0)  # sequential navigation
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column()  # min(start + limit, close)
    closes_at: Mapped[datetime | None] = mapped_column()  # deadline + grace: the sweep's key
    submitted_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[ClosedBy | None] = mapped_column(_enum(ClosedBy))
    score: Mapped[float | None] = mapped_column()
    max_score: Mapped[float] = mapped_column(default=0.0)
    passed: Mapped[bool | None] = mapped_column()


class QuizAnswer(Base):
    __tablename__ = "assessment_quiz_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    attempt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_quiz_attempts.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_questions.id", ondelete="CASCADE"), index=True
    )
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float | None] = mapped_column()  # None: not graded yet
    feedback: Mapped[str] = mapped_column(Text, default="")
    graded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class Assignment(Base):
    __tablename__ = "assessment_assignments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    available_from: Mapped[datetime | None] = mapped_column()
    cutoff_at: Mapped[datetime | None] = mapped_column()  # hard cut-off: nothing after it
    submission_type: Mapped[SubmissionType] = mapped_column(
        _enum(SubmissionType), default=SubmissionType.TEXT
    )
    allowed_extensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_file_bytes: Mapped[int] = mapped_column(default=10 * 1024 * 1024)
    attempts_allowed: Mapped[int | None] = mapped_column()
    max_points: Mapped[float] = mapped_column(default=100.0)
    late_deduction_percent: Mapped[float] = mapped_column(default=0.0)
    late_unit: Mapped[LateUnit] = mapped_column(_enum(LateUnit), default=LateUnit.DAY)
    late_floor_percent: Mapped[float] = mapped_column(default=0.0)
    missing_grade: Mapped[float | None] = mapped_column()
    # [{"id", "title", "points", "levels": [{"id", "title", "points"}]}]
    rubric: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    anonymous_grading: Mapped[bool] = mapped_column(default=False)
    post_policy: Mapped[PostPolicy] = mapped_column(_enum(PostPolicy), default=PostPolicy.AUTOMATIC)
    grades_posted_at: Mapped[datetime | None] = mapped_column()
    due_soon_notified_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssignmentSubmission(Base):
    """One attempt of a student; a revision request reopens it and the next submit makes
    a new version of the same attempt (`SubmissionVersion` keeps every earlier one)."""

    __tablename__ = "assessment_assignment_submissions"
    __table_args__ = (UniqueConstraint("assignment_id", "student_id", "attempt"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_assignments.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[SubmissionStatus] = mapped_column(
        _enum(SubmissionStatus), default=SubmissionStatus.SUBMITTED
    )
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"name", "key", "size", "contentType", "sha256"}]
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    late_seconds: Mapped[int] = mapped_column(default=0)
    raw_score: Mapped[float | None] = mapped_column()
    penalty: Mapped[float] = mapped_column(default=0.0)
    score: Mapped[float | None] = mapped_column()  # raw score minus the late penalty
    rubric_scores: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    override_reason: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str] = mapped_column(Text, default="")
    graded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    graded_at: Mapped[datetime | None] = mapped_column()


class SubmissionEvent(Base):
    """The history of a submission: every version submitted, grade given, revision asked."""

    __tablename__ = "assessment_submission_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_assignment_submissions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(24))  # SUBMITTED, GRADED, REVISION_REQUESTED
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RegradeStatus(enum.StrEnum):
    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class RegradeRequest(Base):
    """A student's request to regrade one answer, and the grader's answer: the audit trail
    (who, when, the points before and after)."""

    __tablename__ = "assessment_regrade_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    attempt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_quiz_attempts.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_questions.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[RegradeStatus] = mapped_column(
        _enum(RegradeStatus), default=RegradeStatus.OPEN, index=True
    )
    response: Mapped[str | None] = mapped_column(Text)
    points_before: Mapped[float | None] = mapped_column()
    points_after: Mapped[float | None] = mapped_column()
    answered_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    answered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuestionRegrade(Base):
    """One regrade of a corrected question's closed attempts, run as a job (its id is the
    job's). The before/after report is stored in the transaction that changes the scores, so a
    re-run of the job returns it rather than regrading again and reporting nothing."""

    __tablename__ = "assessment_question_regrades"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    question_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_questions.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column()  # the question's revision it was asked for
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
