"""The aggregates of the rollup, one definition each: learning events → daily rows per
course, student, lesson, revenue, quiz item and item answer, and student days → per-student
course totals. A full rollup runs them over `learning_events`, an incremental run over its
batch of new events, and the benchmark's plain `GROUP BY` over the same SELECTs."""

from __future__ import annotations

from sqlalchemy import Date, and_, case, cast, distinct, func, select

from lms.analytics.models import (
    CourseDaily,
    ItemDaily,
    ItemResponseDaily,
    LearningEvent,
    LessonDaily,
    RevenueDaily,
    StudentDaily,
)

PASS_SCORE = 0.5


def day_of(column, dialect: str):
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def daily_statements(dialect: str, events=None, active=None, viewers=None):
    """(table, keys, select builder) per daily table; the builder takes a WHERE clause.

    `events` is the columns to read (`learning_events`, or an incremental run's batch of
    new events); `active` and `viewers` count the distinct students of a course-day and of a
    lesson-day (a batch counts only those new to the day)."""
    E = LearningEvent.__table__.c if events is None else events
    day = day_of(E.timestamp, dialect).label("day")
    lesson_done = and_(E.verb == "completed", E.object_type == "lesson")
    graded = E.verb == "scored"

    def course(where):
        return (
            select(
                E.course_id.label("course_id"),
                day,
                count_if(E.verb == "enrolled").label("enrollments"),
                (func.count(distinct(E.actor_id)) if active is None else active).label(
                    "active_students"
                ),
                count_if(lesson_done).label("lesson_completions"),
                count_if(and_(E.verb == "completed", E.object_type == "course")).label(
                    "completions"
                ),
                count_if(E.verb == "earned").label("certificates"),
                count_if(E.verb == "commented").label("forum_posts"),
                count_if(graded).label("graded"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
                func.count().label("events"),
            )
            .where(E.course_id.is_not(None), where)
            .group_by(E.course_id, day)
        )

    def student(where):
        return (
            select(
                E.actor_id.label("user_id"),
                E.course_id.label("course_id"),
                day,
                func.count().label("events"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
                count_if(lesson_done).label("lesson_completions"),
                func.coalesce(func.max(E.progress), 0.0).label("progress"),
                count_if(graded).label("graded"),
                count_if(and_(graded, E.score < PASS_SCORE)).label("failed"),
                sum_if(graded, E.score).label("score_sum"),
                count_if(and_(graded, E.score >= 1.0)).label("perfect"),
                count_if(and_(E.verb == "completed", E.object_type == "course")).label("completed"),
                count_if(E.verb == "commented").label("forum_posts"),
                func.max(E.timestamp).label("last_seen"),
            )
            .where(E.course_id.is_not(None), where)
            .group_by(E.actor_id, E.course_id, day)
        )

    def lesson(where):
        return (
            select(
                E.object_id.label("lesson_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                (func.count(distinct(E.actor_id)) if viewers is None else viewers).label("viewers"),
                count_if(E.verb == "completed").label("completions"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
            )
            .where(E.object_type == "lesson", E.course_id.is_not(None), where)
            .group_by(E.object_id, day, *([E.course_id] if dialect == "postgresql" else []))
        )

    def revenue(where):
        return (
            select(
                E.course_id.label("course_id"),
                day,
                E.currency.label("currency"),
                count_if(E.verb == "purchased").label("purchases"),
                sum_if(E.verb == "purchased", E.amount).label("paid"),
                count_if(E.verb == "refunded").label("refunds"),
                sum_if(E.verb == "refunded", E.amount).label("refunded"),
            )
            .where(
                E.verb.in_(("purchased", "refunded")),
                E.course_id.is_not(None),
                E.currency.is_not(None),
                where,
            )
            .group_by(E.course_id, day, E.currency)
        )

    def item(where):
        return (
            select(
                E.object_id.label("item_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                func.count().label("attempts"),
                count_if(E.score >= 1.0).label("correct"),
            )
            .where(
                E.verb == "answered", E.object_type == "question", E.course_id.is_not(None), where
            )
            .group_by(E.object_id, day, *([E.course_id] if dialect == "postgresql" else []))
        )

    def responses(where):
        return (
            select(
                E.object_id.label("item_id"),
                E.actor_id.label("user_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                func.count().label("attempts"),
                count_if(E.score >= 1.0).label("correct"),
            )
            .where(
                E.verb == "answered", E.object_type == "question", E.course_id.is_not(None), where
            )
            .group_by(
                E.object_id, E.actor_id, day, *([E.course_id] if dialect == "postgresql" else [])
            )
        )

    return {
        "course": (CourseDaily.__table__, ["course_id", "day"], course),
        "responses": (ItemResponseDaily.__table__, ["item_id", "user_id", "day"], responses),
        "student": (StudentDaily.__table__, ["user_id", "course_id", "day"], student),
        "lesson": (LessonDaily.__table__, ["lesson_id", "day"], lesson),
        "revenue": (RevenueDaily.__table__, ["course_id", "day", "currency"], revenue),
        "item": (ItemDaily.__table__, ["item_id", "day"], item),
    }


def course_students(days, where, active_days=None):
    """Per-student course totals from student days (`days`: the columns of
    `analytics_student_daily`, or of a batch's student-day deltas)."""
    S = days
    return (
        select(
            S.course_id.label("course_id"),
            S.user_id.label("user_id"),
            func.max(S.progress).label("progress"),
            func.sum(S.time_seconds).label("time_seconds"),
            func.sum(S.lesson_completions).label("lesson_completions"),
            func.sum(S.graded).label("graded"),
            func.sum(S.failed).label("failed"),
            func.sum(S.score_sum).label("score_sum"),
            func.sum(S.perfect).label("perfect"),
            (func.max(S.completed) > 0).label("completed"),
            (func.count() if active_days is None else active_days).label("active_days"),
            func.max(S.last_seen).label("last_seen"),
        )
        .where(where)
        .group_by(S.course_id, S.user_id)
    )
