"""The eight operations through the real schema in-process: who sees what, at-risk reasons,
privacy of small groups and of other students, revenue from Payments, bad input codes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from lms.db import session_scope
from lms.enrollments.models import Enrollment
from lms.payments.models import Payment, PaymentKind, PaymentStatus
from lms.payments.service.fulfilment import mark_paid
from lms.security import Viewer
from lms.users.models import Role
from tests.analytics.support import date_range, event, person, rolled_up
from tests.enrollments.support import make_course

COURSE = """query($c: ID!) { courseAnalytics(courseId: $c) {
  courseId title students smallGroup enrollments activeStudents certificates
  funnel { enrolled started halfway completed } averageGrade gradeDistribution { grade students }
  revenue { currency purchases paid refunds refunded net }
  lessons { lessonId completions videoDropOff segmentSeconds }
  items { itemId attempts correct difficulty discrimination }
  atRiskStudents { userId name reasons { kind value message } } daily { date enrollments } } }"""
STUDENT = """query($u: ID!) { studentAnalytics(userId: $u) {
  userId activeDays currentStreak longestStreak lessonsCompleted averageScore
  badges { badge } courses { courseId title progress averageScore } } }"""
DASHBOARD = """{ dashboardMetrics { role student { userId lessonsCompleted }
  courses { courseId students atRisk }
  platform { activeStudents enrollments revenue { currency paid } } } }"""
PLATFORM = """query($i: PlatformMetricsInput!) { platformMetrics(input: $i) {
  startDate endDate series { metric currency total points { date value } } } }"""
TRENDING = """query($l: Int, $r: DateRangeInput!) { trendingCourses(limit: $l, dateRange: $r) {
  courseId title enrollments previousEnrollments } }"""
TOP = (
    "query($l: Int) { topPerformingStudents(limit: $l) { rank userId name isViewer averageScore } }"
)


@pytest.fixture(scope="module")
def school():
    """A course of six students with known histories, rolled up."""
    educator, educator_id = person(Role.EDUCATOR)
    course = make_course(
        educator_id,
        title="Analytics 101",
        lessons=(("Watch", "VIDEO", False), ("Read", "TEXT", False)),
    )
    students = [person() for _ in range(6)]
    ids = [s[1] for s in students]
    for index, student in enumerate(ids):
        event(student, "enrolled", "course", course.id, course.id, days_ago=10)
        progress = [90.0, 80.0, 70.0, 60.0, 10.0, 0.0][index]
        event(
            student,
            "progressed",
            "lesson",
            course.lessons[0],
            course.id,
            days_ago=9 if index == 4 else 1,
            result={"progress": progress, "duration": "PT60S"},
            context={"video": {"from": 0, "to": 10 if index % 2 else 20}},
        )
    # The fifth student fails 2 of 3 graded items and has not visited for 9 days.
    for score in (0.2, 0.3, 0.9):
        event(
            ids[4],
            "scored",
            "quiz",
            uuid.uuid4(),
            course.id,
            days_ago=9,
            result={"score": {"scaled": score}},
        )
    for student, score in zip(ids[:4], (1.0, 0.85, 0.75, 0.65), strict=True):
        event(student, "scored", "quiz", "q-final", course.id, result={"score": {"scaled": score}})
        event(
            student,
            "answered",
            "question",
            "item-1",
            course.id,
            result={"score": {"scaled": 1.0 if score > 0.7 else 0.0}},
        )
    event(ids[0], "completed", "course", course.id, course.id, result={"progress": 100.0})
    event(
        ids[0],
        "purchased",
        "course",
        course.id,
        course.id,
        result={"amount": 4900, "currency": "USD"},
    )
    event(
        ids[0],
        "refunded",
        "course",
        course.id,
        course.id,
        result={"amount": 900, "currency": "USD"},
    )
    rolled_up()
    return {"educator": educator, "course": course, "students": students, "ids": ids}


async def test_course_analytics_for_its_educator(api, school):
    data = (await api.data(school["educator"], COURSE, {"c": school["course"].id}))[
        "courseAnalytics"
    ]
    assert data["title"] == "Analytics 101" and data["students"] == 6 and not data["smallGroup"]
    assert data["enrollments"] == 6
    assert data["funnel"] == {"enrolled": 6, "started": 5, "halfway": 4, "completed": 1}
    assert data["revenue"] == [
        {
            "currency": "USD",
            "purchases": 1,
            "paid": 4900,
            "refunds": 1,
            "refunded": 900,
            "net": 4000,
        }
    ]
    assert {b["grade"]: b["students"] for b in data["gradeDistribution"]} == {
        "A": 2,
        "B": 1,
        "C": 1,
        "D": 0,
        "F": 1,
    }
    # The top two by average score answered right, of the bottom two only one answered: wrong.
    assert data["items"] == [
        {"itemId": "item-1", "attempts": 4, "correct": 3, "difficulty": 0.75, "discrimination": 1.0}
    ]
    video = next(
        lesson for lesson in data["lessons"] if lesson["lessonId"] == school["course"].lessons[0]
    )
    assert video["segmentSeconds"] == 5 and video["videoDropOff"] == [6, 6, 3, 3]
    risky = {r["userId"]: r for r in data["atRiskStudents"]}
    fifth = risky[str(school["ids"][4])]
    assert {r["kind"]: r["message"] for r in fifth["reasons"]} == {
        "INACTIVE": "no visit for 9 days",
        "FAILING": "failing 2 of 3 graded items",
        "BEHIND_COHORT": "behind the cohort's median progress by 55 %",
    }
    assert fifth["name"] == "Student Tester"  # read only because the query asks for it
    assert str(school["ids"][0]) not in risky  # completed
    assert [r["kind"] for r in risky[str(school["ids"][5])]["reasons"]] == ["BEHIND_COHORT"]


async def test_who_may_see_course_and_student_analytics(api, school):
    other_educator, _ = person(Role.EDUCATOR)
    student = school["students"][0][0]
    course = {"c": school["course"].id}
    assert await api.codes(other_educator, COURSE, course) == ["COURSE_ANALYTICS_FORBIDDEN"]
    assert await api.codes(student, COURSE, course) == ["COURSE_ANALYTICS_FORBIDDEN"]
    assert await api.codes(student, COURSE, {"c": str(uuid.uuid4())}) == ["COURSE_NOT_FOUND"]
    admin, _ = person(Role.ADMIN)
    assert (await api.data(admin, COURSE, course))["courseAnalytics"]["students"] == 6

    mine = (await api.data(student, STUDENT, {"u": str(school["ids"][0])}))["studentAnalytics"]
    assert {b["badge"] for b in mine["badges"]} == {"FIRST_COURSE_COMPLETED", "PERFECT_QUIZ"}
    assert mine["averageScore"] == 1.0
    assert mine["courses"][0]["title"] == "Analytics 101"
    assert await api.codes(student, STUDENT, {"u": str(school["ids"][1])}) == [
        "STUDENT_ANALYTICS_FORBIDDEN"
    ]
    assert await api.codes(other_educator, STUDENT, {"u": str(school["ids"][1])}) == [
        "STUDENT_ANALYTICS_FORBIDDEN"
    ]
    taught = (await api.data(school["educator"], STUDENT, {"u": str(school["ids"][1])}))[
        "studentAnalytics"
    ]
    assert [c["courseId"] for c in taught["courses"]] == [school["course"].id]
    assert taught["badges"] == []  # a student's badges are theirs


async def test_small_groups_are_not_broken_down(api):
    educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id)
    for _ in range(2):
        student = person()[1]
        event(student, "scored", "quiz", "q", course.id, result={"score": {"scaled": 0.4}})
    rolled_up()
    data = (await api.data(educator, COURSE, {"c": course.id}))["courseAnalytics"]
    assert data["smallGroup"] is True and data["gradeDistribution"] is None
    assert data["averageGrade"] == pytest.approx(0.4)


async def test_dashboards_by_role(api, school):
    student, student_id = school["students"][1]
    mine = (await api.data(student, DASHBOARD))["dashboardMetrics"]
    assert mine["role"] == "STUDENT" and mine["student"]["userId"] == str(student_id)
    assert mine["courses"] is None and mine["platform"] is None
    teaching = (await api.data(school["educator"], DASHBOARD))["dashboardMetrics"]
    assert teaching["courses"] == [{"courseId": school["course"].id, "students": 6, "atRisk": 2}]
    admin, _ = person(Role.ADMIN)
    platform = (await api.data(admin, DASHBOARD))["dashboardMetrics"]["platform"]
    assert platform["activeStudents"] >= 5 and platform["enrollments"] >= 6


async def test_platform_metrics_and_its_bad_input(api, school):
    admin, _ = person(Role.ADMIN)
    asked = {
        "metrics": ["enrollments", "revenue", "activeStudents"],
        "dateRange": date_range(30, 1),
    }
    series = (await api.data(admin, PLATFORM, {"i": asked}))["platformMetrics"]["series"]
    by_metric = {(s["metric"], s["currency"]): s for s in series}
    assert by_metric[("enrollments", None)]["total"] >= 6
    assert by_metric[("revenue", "USD")]["total"] >= 4900
    assert by_metric[("activeStudents", None)]["total"] >= 6

    bad = {"metrics": ["enrollments", "happiness"], "dateRange": date_range(30)}
    assert await api.codes(admin, PLATFORM, {"i": bad}) == ["UNKNOWN_METRIC"]
    reversed_range = {"startDate": date_range(0)["endDate"], "endDate": date_range(5)["startDate"]}
    assert await api.codes(admin, PLATFORM, {"i": {"dateRange": reversed_range}}) == [
        "INVALID_DATE_RANGE"
    ]
    assert await api.codes(admin, PLATFORM, {"i": {"dateRange": date_range(400)}}) == [
        "DATE_RANGE_TOO_LONG"
    ]
    assert await api.codes(school["students"][0][0], PLATFORM, {"i": asked}) == ["FORBIDDEN"]


async def test_trending_courses_and_top_students_within_what_the_viewer_may_see(api, school):
    trending = (
        await api.data(school["students"][0][0], TRENDING, {"l": 100, "r": date_range(14, 1)})
    )["trendingCourses"]
    ours = next(t for t in trending if t["courseId"] == school["course"].id)
    assert ours["enrollments"] == 6 and ours["previousEnrollments"] == 0
    assert await api.codes(school["educator"], TRENDING, {"r": date_range(500)}) == [
        "DATE_RANGE_TOO_LONG"
    ]

    top = (await api.data(school["educator"], TOP, {"l": 3}))["topPerformingStudents"]
    assert [t["userId"] for t in top] == [str(i) for i in school["ids"][:3]]
    assert top[0]["name"] and top[0]["averageScore"] == 1.0
    student, student_id = school["students"][1]
    seen = (await api.data(student, TOP, {"l": 5}))["topPerformingStudents"]
    assert [t["isViewer"] for t in seen][:2] == [False, True]
    assert seen[0]["userId"] is None and seen[0]["name"] is None  # other students stay anonymous
    assert seen[1]["userId"] == str(student_id)
    assert await api.codes(student, TOP, {"l": 0}) == ["BAD_USER_INPUT"]


def test_a_paid_checkout_and_its_refund_are_learning_events():
    """Payments records revenue in the transaction that marks the payment paid."""
    from lms.payments.service.fulfilment import settle_refunds  # noqa: F401
    from tests.analytics.test_analytics_rollups import _events

    _educator, educator_id = person(Role.EDUCATOR)
    course = make_course(educator_id, price=2500)
    _student, student_id = person()
    with session_scope() as session:
        payment = Payment(
            user_id=student_id,
            course_id=uuid.UUID(course.id),
            kind=PaymentKind.COURSE,
            status=PaymentStatus.PENDING,
            amount=2500,
            currency="EUR",
        )
        session.add(payment)
        session.flush()
        assert mark_paid(session, payment, payment_intent="pi_test")
    assert _events(course.id) == [("purchased", "course"), ("enrolled", "course")]
    with session_scope() as session:
        session.execute(
            update(Enrollment)
            .where(Enrollment.course_id == uuid.UUID(course.id))
            .values(progress_percent=0)
        )
    rolled_up()
    viewer = Viewer(educator_id, Role.EDUCATOR)
    from lms.analytics.service.reads import course_analytics

    with session_scope() as session:
        revenue = course_analytics(session, viewer, course_id=course.id)["revenue"]
    assert revenue == [
        {"currency": "EUR", "purchases": 1, "paid": 2500, "refunds": 0, "refunded": 0, "net": 2500}
    ]
