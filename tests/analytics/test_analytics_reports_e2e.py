"""End to end with real processes: an API and an analytics worker. Reports are jobs that
write a PDF with charts and a CSV; the requester downloads them through signed links; the
PDF renders with pdftoppm and the CSV parses. A course with no data gets an empty report.
The rollup itself runs as the scheduled task on that worker. The xAPI export writes
statements in the shape an LRS accepts."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from lms.jobs.broker import publisher
from lms.users.models import Role
from tests.analytics.support import date_range, event
from tests.enrollments.support import make_course
from tests.support import GraphQLClient, JobWatcher, create_user, start_api, start_worker

REPORT_FIELDS = "id kind status progress errorCode downloads { format name path url }"
COURSE_REPORT = (
    f"mutation($i: CourseReportInput!) {{ generateCourseReport(input: $i) {{ {REPORT_FIELDS} }} }}"
)
STUDENT_REPORT = (
    "mutation($i: StudentReportInput!) "
    f"{{ generateStudentReport(input: $i) {{ {REPORT_FIELDS} }} }}"
)
EXPORT = (
    "mutation($i: LearningStatementsExportInput!) "
    f"{{ exportLearningStatements(input: $i) {{ {REPORT_FIELDS} }} }}"
)
REPORT = f"query($id: ID!) {{ analyticsReport(id: $id) {{ {REPORT_FIELDS} }} }}"


@pytest.fixture(scope="module")
def http():
    process, base_url = start_api()
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


@pytest.fixture(scope="module")
def worker():
    process = start_worker("analytics")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


def finished(http, watcher, token, started: dict) -> dict:
    assert started["status"] == "QUEUED" and started["downloads"] == []
    assert watcher.wait(started["id"])["status"] == "SUCCEEDED"
    report = http.data(REPORT, {"id": started["id"]}, token)["analyticsReport"]
    assert report["status"] == "SUCCEEDED" and report["progress"] == 1.0
    return {link["format"]: http.http.get(link["path"]) for link in report["downloads"]}


def renders(pdf: bytes, tmp_path) -> int:
    """Pages pdftoppm rasterizes (it fails on a broken PDF)."""
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(source), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    return len(list(tmp_path.glob("page*.png")))


def test_course_and_student_reports_and_the_xapi_export(http, worker, watcher, tmp_path):
    educator, educator_token = create_user(Role.EDUCATOR)
    course = make_course(educator.id, title="Reported course", lessons=(("Watch", "VIDEO", False),))
    students = [create_user(Role.STUDENT) for _ in range(5)]
    for index, (student, _token) in enumerate(students):
        event(student.id, "enrolled", "course", course.id, course.id, days_ago=3)
        event(
            student.id,
            "progressed",
            "lesson",
            course.lessons[0],
            course.id,
            days_ago=index % 3,
            result={"progress": 20.0 * index, "duration": "PT120S"},
            context={"video": {"from": 0, "to": 30 - 5 * index}},
        )
        event(
            student.id,
            "scored",
            "quiz",
            "final",
            course.id,
            result={"score": {"scaled": 0.2 * index + 0.1}},
        )
    # The scheduled rollup, as beat sends it, on the worker: one consumer taking one message
    # at a time, so it has run before the report job queued after it.
    publisher().send_task("analytics.roll_up", queue="analytics")

    started = http.data(
        COURSE_REPORT, {"i": {"courseId": course.id, "dateRange": date_range(6)}}, educator_token
    )
    files = finished(http, watcher, educator_token, started["generateCourseReport"])
    assert set(files) == {"PDF", "CSV"} and all(r.status_code == 200 for r in files.values())
    assert files["PDF"].content.startswith(b"%PDF") and renders(files["PDF"].content, tmp_path) >= 1
    rows = list(csv.DictReader(io.StringIO(files["CSV"].text)))
    assert len(rows) == 7 and sum(int(r["enrollments"]) for r in rows) == 5
    assert sum(int(r["active_students"]) for r in rows) >= 5

    # Only the requester (and admins) see the report; another educator gets REPORT_NOT_FOUND.
    _other, other_token = create_user(Role.EDUCATOR)
    assert http.error_codes(REPORT, {"id": started["generateCourseReport"]["id"]}, other_token) == [
        "REPORT_NOT_FOUND"
    ]
    assert http.error_codes(COURSE_REPORT, {"i": {"courseId": course.id}}, other_token) == [
        "COURSE_ANALYTICS_FORBIDDEN"
    ]

    student, student_token = students[2]
    mine = http.data(STUDENT_REPORT, {"i": {"userId": str(student.id)}}, student_token)[
        "generateStudentReport"
    ]
    files = finished(http, watcher, student_token, mine)
    assert (
        renders(
            files["PDF"].content,
            tmp_path / "student" if (tmp_path / "student").mkdir() is None else tmp_path,
        )
        >= 1
    )
    assert [r["course_id"] for r in csv.DictReader(io.StringIO(files["CSV"].text))] == [course.id]
    assert http.error_codes(
        STUDENT_REPORT, {"i": {"userId": str(students[0][0].id)}}, student_token
    ) == ["STUDENT_ANALYTICS_FORBIDDEN"]

    exported = http.data(
        EXPORT, {"i": {"courseId": course.id, "dateRange": date_range(6)}}, educator_token
    )
    files = finished(http, watcher, educator_token, exported["exportLearningStatements"])
    statements = json.loads(files["JSON"].content)
    assert len(statements) == 15
    verbs = {s["verb"]["id"] for s in statements}
    assert "http://adlnet.gov/expapi/verbs/registered" in verbs
    scored = next(s for s in statements if s["verb"]["display"]["en-US"] == "scored")
    assert scored["actor"]["account"]["name"] in {str(s.id) for s, _ in students}
    assert (
        "scaled" in scored["result"]["score"] and scored["context"]["contextActivities"]["parent"]
    )


def test_a_course_without_data_gets_an_empty_report(http, worker, watcher, tmp_path):
    educator, token = create_user(Role.EDUCATOR)
    course = make_course(educator.id, title="Quiet course")
    started = http.data(COURSE_REPORT, {"i": {"courseId": course.id}}, token)[
        "generateCourseReport"
    ]
    files = finished(http, watcher, token, started)
    assert renders(files["PDF"].content, tmp_path) >= 1
    rows = list(csv.DictReader(io.StringIO(files["CSV"].text)))
    assert len(rows) == 30 and all(r["enrollments"] == "0" for r in rows)
