"""Reports as jobs: `generateCourseReport` / `generateStudentReport` record a job; a worker
writes a PDF with charts and a CSV of the same figures to storage
(`reports/analytics/{job}/…`, deterministic keys: a re-run replaces them), read from the
rollups. The requester (or an admin) polls `analyticsReport(id)` and downloads through
signed, expiring links. A course with no data gets an empty report, not an error.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.analytics import access
from lms.analytics.errors import ReportNotFound
from lms.analytics.models import CourseDaily, CourseStudent, StudentDaily
from lms.analytics.report_pdf import bar_chart, build_csv, build_pdf, line_chart
from lms.analytics.dropoff import SEGMENT_SECONDS
from lms.analytics.service import reads
from lms.analytics.settings import analytics_settings
from lms.config import Settings
from lms.errors import NotFound
from lms.jobs.models import Job
from lms.jobs.service import enqueue, get_job
from lms.security import Viewer
from lms.storage import get_storage, guess_type, signing
from lms.users.access import display_names

COURSE_REPORT = "analytics.course_report"
STUDENT_REPORT = "analytics.student_report"
EXPORT_STATEMENTS = "analytics.export_statements"
KINDS = (COURSE_REPORT, STUDENT_REPORT, EXPORT_STATEMENTS)
DAILY_CSV = (
    "date",
    "enrollments",
    "active_students",
    "lesson_completions",
    "completions",
    "time_on_task_seconds",
)


def generate_course_report(session: Session, viewer: Viewer, *, input: dict) -> Job:
    course = access.course_for_analytics(session, viewer, input.get("course_id"))
    first, last = access.date_range(input.get("date_range"))
    return enqueue(
        session,
        COURSE_REPORT,
        {
            "course_id": str(course.id),
            "title": course.title,
            "first": first.isoformat(),
            "last": last.isoformat(),
        },
        subject=("course", str(course.id)),
        requested_by_id=viewer.user_id,
    )


def generate_student_report(session: Session, viewer: Viewer, *, input: dict) -> Job:
    student, scope = access.student_scope(session, viewer, input.get("user_id"))
    first, last = access.date_range(input.get("date_range"))
    # The courses the requester may see, fixed now: the worker has no viewer.
    courses = None if scope is None else [str(c) for c in session.scalars(scope)]
    return enqueue(
        session,
        STUDENT_REPORT,
        {
            "user_id": str(student),
            "courses": courses,
            "first": first.isoformat(),
            "last": last.isoformat(),
        },
        subject=("user", str(student)),
        requested_by_id=viewer.user_id,
    )


def analytics_report(session: Session, viewer: Viewer, *, id: Any) -> Job:
    """A report job, for whoever asked for it and admins (others: REPORT_NOT_FOUND)."""
    missing = ReportNotFound("report not found")
    try:
        job = get_job(session, access.parse_uuid(id, missing))
    except NotFound:  # JOB_NOT_FOUND: say which kind of thing is missing
        raise missing from None
    if job.kind not in KINDS or not (viewer.is_admin or job.requested_by_id == viewer.user_id):
        raise missing
    return job


def download_links(job: Job, settings: Settings) -> list[dict]:
    files = (job.result or {}).get("files") or {}
    seconds = analytics_settings().report_url_seconds
    links = []
    for fmt, key in sorted(files.items()):
        name = key.rsplit("/", 1)[-1]
        url, expires_at = signing.file_url(
            key, seconds, name=name, download=True, settings=settings
        )
        path = signing.api_path(key, expires_at, name=name, download=True, settings=settings)
        links.append(
            {
                "format": fmt.upper(),
                "name": name,
                "path": path,
                "url": url,
                "expires_at": expires_at,
            }
        )
    return links


def _store(
    job_id: uuid.UUID, settings: Settings, files: dict[str, tuple[str, bytes]]
) -> dict[str, str]:
    storage = get_storage(settings)
    keys = {}
    for fmt, (name, data) in files.items():
        key = f"reports/analytics/{job_id}/{name}"
        storage.put_bytes(key, data, content_type=guess_type(name))
        keys[fmt] = key
    return keys


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def write_course_report(
    session: Session, job_id: uuid.UUID, payload: dict, settings: Settings, progress=None
) -> dict:
    course_id = uuid.UUID(payload["course_id"])
    first, last = date.fromisoformat(payload["first"]), date.fromisoformat(payload["last"])
    report = progress or (lambda *_a, **_k: None)
    report(0.1, "reading rollups")
    daily = {
        row.day: row
        for row in session.scalars(
            select(CourseDaily).where(
                CourseDaily.course_id == course_id,
                CourseDaily.day >= first,
                CourseDaily.day <= last,
            )
        )
    }
    students = list(
        session.scalars(select(CourseStudent).where(CourseStudent.course_id == course_id))
    )
    funnel = reads._funnel(students)
    average, distribution = reads._grades(students, analytics_settings().min_group)
    at_risk = reads._at_risk(session, students, reads._today())
    lessons = reads._lessons(session, course_id)
    days = _days(first, last)
    rows = [
        [
            day.isoformat(),
            *(
                (
                    r.enrollments,
                    r.active_students,
                    r.lesson_completions,
                    r.completions,
                    r.time_seconds,
                )
                if (r := daily.get(day))
                else (0, 0, 0, 0, 0)
            ),
        ]
        for day in days
    ]
    report(0.4, "drawing charts")
    sections: list[tuple[str, object]] = [
        (
            "Summary",
            [
                ["students", "enrolments in range", "completions in range", "average grade"],
                [
                    len(students),
                    sum(r[1] for r in rows),
                    sum(r[4] for r in rows),
                    "—" if average is None else f"{average:.0%}",
                ],
            ],
        ),
        ("Completion funnel", bar_chart("Students", list(funnel), list(funnel.values()))),
        (
            "Active students per day",
            bar_chart(
                "Active students",
                [d.strftime("%m-%d") for d in days][-60:],
                [r[2] for r in rows][-60:],
            ),
        ),
    ]
    if distribution:
        sections.append(
            (
                "Grade distribution",
                bar_chart(
                    "Students",
                    [b["grade"] for b in distribution],
                    [b["students"] for b in distribution],
                ),
            )
        )
    elif students:
        sections.append(
            ("Grade distribution", "Not shown: fewer than the minimum group have grades.")
        )
    for lesson in [entry for entry in lessons if entry.get("video_drop_off")][:3]:
        sections.append(
            (
                f"Video drop-off, lesson {lesson['lesson_id']}",
                line_chart(
                    f"Viewers per {SEGMENT_SECONDS}-second segment",
                    lesson["video_drop_off"],
                    SEGMENT_SECONDS,
                ),
            )
        )
    sections.append(
        (
            "Students at risk",
            [["student", "reasons"]]
            + [
                [a["name"] or str(a["user_id"]), "; ".join(r["message"] for r in a["reasons"])]
                for a in at_risk
            ],
        )
    )
    if not students and not daily:
        sections.insert(0, ("No data yet", "No learning activity was recorded for this course."))
    subtitle = f"{first.isoformat()} to {last.isoformat()}"
    pdf = build_pdf(f"Course report: {payload.get('title') or course_id}", subtitle, sections)
    report(0.8, "storing files")
    files = _store(
        job_id,
        settings,
        {
            "pdf": ("course-report.pdf", pdf),
            "csv": ("course-report.csv", build_csv(DAILY_CSV, rows)),
        },
    )
    return {
        "files": files,
        "students": len(students),
        "days": len(days),
        "empty": not students and not daily,
    }


def write_student_report(
    session: Session, job_id: uuid.UUID, payload: dict, settings: Settings, progress=None
) -> dict:
    student = uuid.UUID(payload["user_id"])
    first, last = date.fromisoformat(payload["first"]), date.fromisoformat(payload["last"])
    courses = payload.get("courses")
    query = select(CourseStudent).where(CourseStudent.user_id == student)
    days_query = (
        select(StudentDaily.day, func.sum(StudentDaily.time_seconds), func.sum(StudentDaily.events))
        .where(StudentDaily.user_id == student, StudentDaily.day >= first, StudentDaily.day <= last)
        .group_by(StudentDaily.day)
    )
    if courses is not None:
        ids = [uuid.UUID(c) for c in courses]
        query = query.where(CourseStudent.course_id.in_(ids))
        days_query = days_query.where(StudentDaily.course_id.in_(ids))
    rows = list(session.scalars(query))
    by_day = {
        day: (int(seconds or 0), int(events or 0))
        for day, seconds, events in session.execute(days_query)
    }
    name = display_names(session, [student]).get(student) or str(student)
    days = _days(first, last)
    table = [
        [
            str(r.course_id),
            f"{r.progress:.0f}",
            r.lesson_completions,
            r.graded,
            "" if not r.graded else f"{r.score_sum / r.graded:.2f}",
            r.time_seconds,
            "yes" if r.completed else "no",
        ]
        for r in rows
    ]
    header = [
        "course_id",
        "progress_percent",
        "lessons_completed",
        "graded_items",
        "average_score",
        "time_on_task_seconds",
        "completed",
    ]
    sections: list[tuple[str, object]] = [
        ("Courses", [header, *table]),
        (
            "Minutes of study per day",
            bar_chart(
                "Minutes",
                [d.strftime("%m-%d") for d in days][-60:],
                [by_day.get(d, (0, 0))[0] / 60 for d in days][-60:],
            ),
        ),
        (
            "Progress per course",
            bar_chart("Percent", [str(r.course_id)[:8] for r in rows], [r.progress for r in rows]),
        ),
    ]
    pdf = build_pdf(
        f"Student report: {name}", f"{first.isoformat()} to {last.isoformat()}", sections
    )
    files = _store(
        job_id,
        settings,
        {
            "pdf": ("student-report.pdf", pdf),
            "csv": ("student-report.csv", build_csv(header, table)),
        },
    )
    return {"files": files, "courses": len(rows), "empty": not rows}


# --- xAPI export --------------------------------------------------------------------------


def export_learning_statements(session: Session, viewer: Viewer, *, input: dict) -> Job:
    """A job writing the course's learning events of a range as xAPI statements (JSON)."""
    course = access.course_for_analytics(session, viewer, input.get("course_id"))
    first, last = access.date_range(input.get("date_range"))
    return enqueue(
        session,
        EXPORT_STATEMENTS,
        {"course_id": str(course.id), "first": first.isoformat(), "last": last.isoformat()},
        subject=("course", str(course.id)),
        requested_by_id=viewer.user_id,
    )


def write_statements(
    session: Session, job_id: uuid.UUID, payload: dict, settings: Settings
) -> dict:
    """An export reads raw events: it is the one reader of `learning_events` besides rollups."""
    import json
    from datetime import UTC, datetime, time

    from lms.analytics.models import LearningEvent
    from lms.analytics.xapi import statement

    course_id = uuid.UUID(payload["course_id"])
    start = datetime.combine(date.fromisoformat(payload["first"]), time(), tzinfo=UTC)
    end = datetime.combine(date.fromisoformat(payload["last"]), time(), tzinfo=UTC) + timedelta(
        days=1
    )
    base = (settings.public_url or "http://localhost").rstrip("/")
    events = session.scalars(
        select(LearningEvent)
        .where(
            LearningEvent.course_id == course_id,
            LearningEvent.timestamp >= start,
            LearningEvent.timestamp < end,
        )
        .order_by(LearningEvent.timestamp, LearningEvent.id)
    )
    statements = [statement(event, base) for event in events]
    data = json.dumps(statements, indent=1).encode("utf-8")
    files = _store(job_id, settings, {"json": ("statements.json", data)})
    return {"files": files, "statements": len(statements)}
