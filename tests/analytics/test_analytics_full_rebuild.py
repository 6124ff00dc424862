"""PostgreSQL's full rollup runs as tasks taken by two sessions on two connections
(`lms.analytics.rebuild`): it agrees with the incremental runs, a failing task changes
nothing, and a crash between the two commits is repaired by the next run, whatever it was
asked to do. Faults are real: a table is locked and a backend that waits for it is
terminated."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from lms.analytics.models import Badge, CourseDaily, CourseStudent, Watermark
from lms.analytics.rebuild import MARKER
from lms.config import get_settings
from lms.db import session_scope
from lms.notifications.models import Notification
from lms.users.models import Role
from tests.analytics.support import event, person, rolled_up
from tests.enrollments.support import make_course


def _conninfo() -> str:
    url = make_url(get_settings().database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _figures(course_id: uuid.UUID) -> dict:
    """What two of the tasks write: course days and per-student totals."""
    with session_scope() as session:
        return {
            "lesson_completions": sum(
                session.scalars(
                    select(CourseDaily.lesson_completions).where(CourseDaily.course_id == course_id)
                )
            ),
            "students": sorted(
                (str(r.user_id), r.lesson_completions, r.active_days)
                for r in session.scalars(
                    select(CourseStudent).where(CourseStudent.course_id == course_id)
                )
            ),
        }


def _age_events(course_id: uuid.UUID) -> None:
    """Stored an hour ago: before a full run's look-back, so its tasks rebuild from them
    (an event stored in the last minutes is folded in as a delta instead)."""
    with session_scope() as session:
        session.execute(
            text(
                "UPDATE learning_events SET stored_at = stored_at - interval '1 hour' "
                "WHERE course_id = :course"
            ),
            {"course": course_id},
        )


def _marker() -> bool:
    with session_scope() as session:
        return session.get(Watermark, MARKER) is not None


def _full_run_killed_at(table: str) -> None:
    """A full run while `table` is locked: a backend that waits for it is terminated."""
    with psycopg.connect(_conninfo()) as holder, ThreadPoolExecutor(1) as pool:
        holder.execute(f"LOCK TABLE {table} IN SHARE MODE")
        run = pool.submit(rolled_up, True)
        deadline = time.monotonic() + 60
        waiting = None
        while waiting is None and not run.done() and time.monotonic() < deadline:
            waiting = holder.execute(
                "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_database d ON d.oid = l.database "
                "WHERE c.relname = %s AND NOT l.granted AND d.datname = current_database()",
                [table],
            ).fetchone()
            if waiting is None:
                time.sleep(0.02)  # a lock wait has no notification: look again
        assert waiting is not None, "the full run never waited for the locked table"
        holder.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
        holder.rollback()
        with pytest.raises(OperationalError):
            run.result(timeout=120)


def _a_course_with_a_late_completion() -> tuple[uuid.UUID, uuid.UUID, dict]:
    """A student's progress, rolled up; then a lesson completion that only a full run will
    see (all its events stored an hour ago). Returns the course, the student and the figures
    the incremental run left."""
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    _student, student_id = person()
    event(student_id, "enrolled", "course", course.id, course.id)
    event(student_id, "progressed", "lesson", course.lessons[0], course.id, days_ago=1)
    assert rolled_up()["mode"] == "incremental"
    course_id = uuid.UUID(course.id)
    before = _figures(course_id)
    assert before["lesson_completions"] == 0
    event(student_id, "completed", "lesson", course.lessons[0], course.id)
    _age_events(course_id)
    return course_id, student_id, before


def _rebuilt(student_id: uuid.UUID) -> dict:
    return {"lesson_completions": 1, "students": [(str(student_id), 1, 2)]}


def test_a_full_run_in_two_halves_agrees_with_the_incremental_runs():
    rolled_up()  # the database's first run (full) is behind us
    course_id, student_id, _before = _a_course_with_a_late_completion()
    stats = rolled_up(full=True)
    assert stats["mode"] == "full"
    tasks = {"students", "segments", "course", "lesson", "responses", "item", "revenue"}
    assert tasks <= set(stats["seconds"])
    assert _figures(course_id) == _rebuilt(student_id)
    assert not _marker()
    # The next incremental run adds nothing twice; a new event lands once.
    rolled_up()
    assert _figures(course_id) == _rebuilt(student_id)


def test_a_full_run_whose_task_fails_changes_nothing():
    rolled_up()
    course_id, student_id, before = _a_course_with_a_late_completion()
    # Student days are the first task (of the second session); course days are done by
    # then and rolled back too.
    _full_run_killed_at("analytics_student_daily")
    assert _figures(course_id) == before
    _full_run_killed_at("analytics_lesson_segments")  # a task of either session
    assert _figures(course_id) == before
    assert _marker()
    stats = rolled_up()  # asked for nothing in particular: the unfinished full run again
    assert stats["mode"] == "full"
    assert _figures(course_id) == _rebuilt(student_id)
    assert not _marker()


def test_a_crash_between_the_two_commits_is_repaired_by_the_next_run():
    rolled_up()
    course_id, student_id, _before = _a_course_with_a_late_completion()
    # The second session has committed its tasks; the caller dies before the watermark
    # moves (which tasks each session took varies: the marker is what tells).
    _full_run_killed_at("analytics_rolled_events")
    assert _marker()
    stats = rolled_up()
    assert stats["mode"] == "full"
    assert _figures(course_id) == _rebuilt(student_id)
    rolled_up()
    assert _figures(course_id) == _rebuilt(student_id)


def test_a_full_run_awards_badges_from_the_rebuilt_totals_once():
    rolled_up()
    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    _student, student_id = person()
    event(student_id, "enrolled", "course", course.id, course.id, days_ago=8)
    for days_ago in range(7, 0, -1):  # seven days in a row
        event(student_id, "progressed", "lesson", course.lessons[0], course.id, days_ago=days_ago)
    event(student_id, "completed", "course", course.id, course.id, result={"progress": 100.0})
    _age_events(uuid.UUID(course.id))  # only a full run reads them
    assert rolled_up()["badges"] == 0
    rolled_up(full=True)
    rolled_up(full=True)  # a second full run awards nothing again
    with session_scope() as session:
        badges = session.scalars(
            select(Badge.badge).where(Badge.user_id == student_id).order_by(Badge.badge)
        ).all()
        notes = session.scalars(
            select(Notification.title)
            .where(Notification.user_id == student_id, Notification.type == "SYSTEM")
            .order_by(Notification.title)
        ).all()
    assert badges == ["FIRST_COURSE_COMPLETED", "STREAK_7_DAYS"]
    assert notes == ["New badge: First course completed", "New badge: Seven days in a row"]
