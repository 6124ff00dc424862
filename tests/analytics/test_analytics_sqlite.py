"""The embedded default: on SQLite (no partitions) the same events roll up into the same
figures, and every query and report works."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from sqlalchemy.orm import sessionmaker

from lms.analytics.rollups import roll_up
from lms.analytics.service import reads, reports
from lms.config import load_settings
from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CourseStatus,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.db import build_sync_engine
from lms.enrollments import service as enrollments
from lms.migrate import upgrade
from lms.models import utcnow
from lms.security import Viewer
from lms.storage import get_storage
from lms.users.models import Role, User


def test_events_rollups_queries_and_reports_on_sqlite(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'lms.db'}", var_dir=tmp_path)
    upgrade(settings)
    engine = build_sync_engine(settings)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        people = {
            role: User(
                email=f"{uuid.uuid4().hex[:8]}@example.test", name=f"{role.value} one", role=role
            )
            for role in (Role.EDUCATOR, Role.STUDENT, Role.ADMIN)
        }
        session.add_all(people.values())
        session.flush()
        course = Course(
            slug="sqlite-course",
            title="Embedded",
            owner_id=people[Role.EDUCATOR].id,
            status=CourseStatus.PUBLISHED,
        )
        session.add(course)
        session.flush()
        session.add(
            CourseInstructor(
                course_id=course.id, user_id=people[Role.EDUCATOR].id, role=InstructorRole.OWNER
            )
        )
        module = CourseModule(course_id=course.id, title="Part 1", position=0)
        session.add(module)
        session.flush()
        lesson = Lesson(
            module_id=module.id,
            course_id=course.id,
            title="Watch",
            type=LessonType.VIDEO,
            position=0,
            duration_seconds=600,
        )
        session.add(lesson)
    viewers = {role: Viewer(user.id, role) for role, user in people.items()}
    student = viewers[Role.STUDENT]
    with sessions.begin() as session:
        view = enrollments.enroll_in_course(session, student, input={"course_id": course.id})
    with sessions.begin() as session:
        enrollments.update_lesson_progress(
            session,
            student,
            input={
                "enrollment_id": view.id,
                "lesson_id": lesson.id,
                "position_seconds": 15,
                "time_spent_seconds": 15,
            },
        )
    for _ in range(2):  # idempotent on SQLite too
        with sessions.begin() as session:
            roll_up(session)

    with sessions() as session:
        data = reads.course_analytics(session, viewers[Role.EDUCATOR], course_id=course.id)
        assert data["enrollments"] == 1 and data["funnel"]["started"] == 1
        assert data["lessons"][0]["video_drop_off"] == [1, 1, 1]
        assert data["daily"][-1]["time_on_task_seconds"] == 15
        mine = reads.student_analytics(session, student, user_id=student.user_id)
        assert mine["current_streak"] == 1 and mine["courses"][0]["title"] == "Embedded"
        assert (
            reads.dashboard_metrics(session, viewers[Role.EDUCATOR])["courses"][0]["students"] == 1
        )
        now = utcnow()
        window = {"start_date": now - timedelta(days=7), "end_date": now}
        metrics = reads.platform_metrics(session, viewers[Role.ADMIN], input={"date_range": window})
        assert {s["metric"]: s["total"] for s in metrics["series"]}["enrollments"] == 1
        trending = reads.trending_courses(session, student, date_range=window)
        assert [t["title"] for t in trending] == ["Embedded"]
        assert reads.top_performing_students(session, viewers[Role.ADMIN]) == []  # nothing graded

    # Watching on (15 → 30 s): the next runs re-read the first report too (inside the
    # look-back) and merge it into the viewer's row without counting it again.
    with sessions.begin() as session:
        enrollments.update_lesson_progress(
            session,
            student,
            input={
                "enrollment_id": view.id,
                "lesson_id": lesson.id,
                "position_seconds": 30,
                "time_spent_seconds": 15,
            },
        )
    for full in (False, False, True):  # a full rebuild agrees with the incremental runs
        with sessions.begin() as session:
            roll_up(session, full=full)
        with sessions() as session:
            data = reads.course_analytics(session, viewers[Role.EDUCATOR], course_id=course.id)
            assert data["lessons"][0]["video_drop_off"] == [1, 1, 1, 1, 1, 1]

    with sessions.begin() as session:
        job = reports.generate_course_report(
            session, viewers[Role.EDUCATOR], input={"course_id": course.id}
        )
        payload, job_id = dict(job.payload), job.id
    with sessions() as session:
        result = reports.write_course_report(session, job_id, payload, settings)
    storage = get_storage(settings)
    assert storage.read_bytes(result["files"]["pdf"]).startswith(b"%PDF")
    rows = list(csv.DictReader(io.StringIO(storage.read_bytes(result["files"]["csv"]).decode())))
    assert sum(int(r["enrollments"]) for r in rows) == 1
    engine.dispose()
