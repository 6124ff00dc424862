"""Learning events are written with the change that caused them; rollups are incremental,
idempotent and fold late events into their day (the rollup function called in-process)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from lms.analytics.models import (
    Badge,
    CourseDaily,
    CourseStudent,
    LearningEvent,
    LessonSegment,
    StudentDaily,
    Watermark,
)
from lms.analytics.dropoff import watched_segments
from lms.db import session_scope
from lms.enrollments import service as enrollments
from lms.models import utcnow
from lms.notifications.models import Notification
from lms.users.models import Role
from tests.analytics.support import event, person, rolled_up
from tests.enrollments.support import make_course


def _events(course_id) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [
            (e.verb, e.object_type)
            for e in session.scalars(
                select(LearningEvent)
                .where(LearningEvent.course_id == uuid.UUID(course_id))
                .order_by(LearningEvent.stored_at)
            )
        ]


def _snapshot(course_id) -> dict:
    course = uuid.UUID(course_id)
    with session_scope() as session:
        return {
            "course": sorted(
                (
                    r.day,
                    r.enrollments,
                    r.active_students,
                    r.lesson_completions,
                    r.completions,
                    r.time_seconds,
                )
                for r in session.scalars(select(CourseDaily).where(CourseDaily.course_id == course))
            ),
            "students": sorted(
                (
                    str(r.user_id),
                    r.progress,
                    r.lesson_completions,
                    r.completed,
                    r.active_days,
                    r.time_seconds,
                )
                for r in session.scalars(
                    select(CourseStudent).where(CourseStudent.course_id == course)
                )
            ),
            "segments": sorted(
                (r.lesson_id, r.segment, r.viewers)
                for r in session.scalars(
                    select(LessonSegment).where(LessonSegment.course_id == course)
                )
            ),
        }


def test_enrolment_and_progress_write_events_in_their_own_transaction():
    educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id, lessons=(("Intro", "VIDEO", False), ("Notes", "TEXT", False)))
    student, student_id = person()
    with pytest.raises(RuntimeError), session_scope() as session:
        enrollments.enroll_in_course(session, student, input={"course_id": course.id})
        raise RuntimeError("the change rolls back")
    assert _events(course.id) == []  # no event without its change

    with session_scope() as session:
        view = enrollments.enroll_in_course(session, student, input={"course_id": course.id})
    with session_scope() as session:
        enrollments.update_lesson_progress(
            session,
            student,
            input={
                "enrollment_id": view.id,
                "lesson_id": course.lessons[0],
                "position_seconds": 20,
                "time_spent_seconds": 20,
            },
        )
    with session_scope() as session:
        enrollments.complete_lesson(
            session, student, enrollment_id=view.id, lesson_id=course.lessons[1]
        )
    assert _events(course.id) == [
        ("enrolled", "course"),
        ("progressed", "lesson"),
        ("progressed", "lesson"),
        ("completed", "lesson"),
    ]
    with session_scope() as session:
        video = session.scalars(
            select(LearningEvent).where(
                LearningEvent.object_id == course.lessons[0], LearningEvent.verb == "progressed"
            )
        ).one()
        assert video.context == {"video": {"from": 0, "to": 20}} and video.seconds == 20
        assert video.actor_id == student_id


def test_rollups_are_incremental_idempotent_and_fold_late_events_into_their_day():
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id, lessons=(("Intro", "VIDEO", False),))
    lesson = course.lessons[0]
    students = [person()[1] for _ in range(3)]
    for index, student in enumerate(students):
        event(student, "enrolled", "course", course.id, course.id)
        # Watching 0→20 s, then 20→30 s for the first student only: segments 0..3, then 4..5.
        event(
            student,
            "progressed",
            "lesson",
            lesson,
            course.id,
            result={"progress": 50.0, "duration": "PT20S"},
            context={"video": {"from": 0, "to": 20}},
        )
        if index == 0:
            event(
                student,
                "progressed",
                "lesson",
                lesson,
                course.id,
                result={"progress": 100.0, "duration": "PT10S"},
                context={"video": {"from": 20, "to": 30}},
            )
    rolled_up()
    first = _snapshot(course.id)
    today = utcnow().date()
    assert first["course"] == [(today, 3, 3, 0, 0, 70)]
    assert [s for _l, s, v in first["segments"] if v == 3] == [0, 1, 2, 3]
    assert [s for _l, s, v in first["segments"] if v == 1] == [4, 5]

    rolled_up()  # nothing new: the same numbers
    rolled_up()
    assert _snapshot(course.id) == first
    rolled_up(full=True)  # a full run over everything agrees with the incremental ones
    assert _snapshot(course.id) == first

    # A late event (reported now, from 3 days ago) lands in its own day, nothing doubles.
    event(students[1], "completed", "lesson", lesson, course.id, days_ago=3)
    stats = rolled_up()
    assert stats["mode"] == "incremental" and stats["events"] >= 1
    later = _snapshot(course.id)
    assert later["course"][0][0] == today - __import__("datetime").timedelta(days=3)
    assert later["course"][0][3] == 1 and later["course"][1:] == first["course"]
    with session_scope() as session:
        days = session.scalar(
            select(func.count()).where(
                StudentDaily.user_id == students[1], StudentDaily.course_id == uuid.UUID(course.id)
            )
        )
        assert days == 2
        mark = session.get(Watermark, "daily")
        assert mark.runs >= 4 and (utcnow() - mark.stored_at).total_seconds() < 300


def test_a_badge_is_awarded_once_with_one_notification():
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    _student, student_id = person()
    event(student_id, "enrolled", "course", course.id, course.id)
    event(student_id, "completed", "course", course.id, course.id, result={"progress": 100.0})
    rolled_up()
    event(student_id, "progressed", "lesson", course.lessons[0], course.id)
    rolled_up()
    rolled_up(full=True)
    with session_scope() as session:
        badges = session.scalars(select(Badge.badge).where(Badge.user_id == student_id)).all()
        notes = session.scalars(
            select(Notification.title).where(
                Notification.user_id == student_id, Notification.type == "SYSTEM"
            )
        ).all()
    assert badges == ["FIRST_COURSE_COMPLETED"]
    assert notes == ["New badge: First course completed"]


def test_watched_segments_treat_long_jumps_as_seeks():
    assert watched_segments(0, 12) == {0, 1, 2}
    assert watched_segments(10, 15) == {2}
    assert watched_segments(0, 300) == {60}  # a seek: only where playing resumed
    assert watched_segments(40, 20) == {4}  # backwards: a seek back


def test_events_land_in_their_month_partition_on_postgresql():
    from sqlalchemy import text

    from lms.analytics.partitions import SCHEMA, ensure_months

    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    student = person()[1]
    event(student, "enrolled", "course", course.id, course.id, days_ago=40)
    with session_scope() as session:
        assert ensure_months(session) == []  # the migration made them ahead of time
        where = session.scalar(
            text("SELECT tableoid::regclass::text FROM learning_events WHERE actor_id = :a"),
            {"a": student},
        )
    month = (utcnow() - __import__("datetime").timedelta(days=40)).strftime("%Y%m")
    assert where == f"{SCHEMA}.learning_events_{month}"


def test_seven_days_in_a_row_earn_the_streak_badge_and_six_do_not():
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    steady, patchy = person()[1], person()[1]
    for day in range(7):
        event(steady, "progressed", "lesson", course.lessons[0], course.id, days_ago=day)
        if day != 3:  # a gap: two runs of three days
            event(patchy, "progressed", "lesson", course.lessons[0], course.id, days_ago=day)
    rolled_up()
    with session_scope() as session:
        held = set(
            session.execute(
                select(Badge.user_id, Badge.badge).where(Badge.user_id.in_([steady, patchy]))
            )
        )
    assert held == {(steady, "STREAK_7_DAYS")}


def _every_rollup(course_id) -> dict:
    """Every rollup row of one course, as a user of each table would read it."""
    from lms.analytics.models import (
        ItemDaily,
        ItemResponseDaily,
        LessonDaily,
        LessonWatch,
        RevenueDaily,
    )

    course = uuid.UUID(course_id)
    tables = (
        CourseDaily,
        StudentDaily,
        CourseStudent,
        LessonDaily,
        LessonSegment,
        LessonWatch,
        RevenueDaily,
        ItemDaily,
        ItemResponseDaily,
    )
    with session_scope() as session:
        return {
            table.__tablename__: sorted(
                tuple(str(getattr(row, c.key)) for c in table.__table__.c)
                for row in session.scalars(select(table).where(table.course_id == course))
            )
            for table in tables
        }


def test_incremental_deltas_agree_with_a_full_rebuild_and_count_each_student_once():
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id, lessons=(("Intro", "VIDEO", False),))
    lesson, cid = course.lessons[0], course.id
    ada, bo = person()[1], person()[1]
    video = {"video": {"from": 0, "to": 10}}
    event(ada, "enrolled", "course", cid, cid)
    event(
        ada,
        "progressed",
        "lesson",
        lesson,
        cid,
        result={"progress": 20.0, "duration": "PT10S"},
        context=video,
    )
    rolled_up()
    # The same student, lesson and day again in a later run: still one active student, one
    # viewer, one active day; more time and the higher progress.
    seen = {"progress": 60.0, "duration": "PT10S"}
    event(ada, "progressed", "lesson", lesson, cid, result=seen, context=video)
    event(ada, "answered", "question", f"{cid}-q1", cid, result={"score": {"scaled": 1.0}})
    event(ada, "scored", "quiz", f"{cid}-quiz", cid, result={"score": {"scaled": 0.4}})
    event(bo, "progressed", "lesson", lesson, cid, days_ago=2, context=video)  # a late one
    event(bo, "purchased", "course", cid, cid, result={"amount": 4900, "currency": "USD"})
    stats = rolled_up()
    assert stats["mode"] == "incremental" and stats["events"] == 5
    assert rolled_up()["events"] == 0  # everything in the look-back is listed already
    incremental = _every_rollup(cid)

    today = utcnow().date()
    with session_scope() as session:
        day = session.get(CourseDaily, (uuid.UUID(cid), today))
        assert (day.active_students, day.events, day.time_seconds) == (2, 6, 20)
        ada_total = session.get(CourseStudent, (uuid.UUID(cid), ada))
        assert (ada_total.active_days, ada_total.progress, ada_total.failed) == (1, 60.0, 1)
    rolled_up(full=True)
    assert _every_rollup(cid) == incremental
    rolled_up()
    assert _every_rollup(cid) == incremental
