"""Enrolment, eligibility, progress and access rules, through GraphQL on a real API process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from lms.courses.models import CourseStatus
from lms.db import session_scope
from lms.enrollments.models import Enrollment
from lms.users.models import Role
from tests.enrollments.support import (
    ACCESS,
    COMPLETE,
    ELIGIBILITY,
    ENROLL,
    RESET,
    UPDATE,
    VERIFY,
    WITHDRAW,
    complete,
    enroll,
    make_course,
    report,
)
from tests.support import create_user

COURSE_ENROLLMENTS = """query($c: ID!, $s: EnrollmentStatus) {
  courseEnrollments(courseId: $c, status: $s) {
  totalCount nodes { studentId status } } }"""
STUDENT_ENROLLMENTS = (
    """query($s: ID!) { studentEnrollments(studentId: $s) { totalCount nodes { courseId } } }"""
)
ENROLLMENT_DETAIL = """query($c: ID!) { courseEnrollments(courseId: $c) { nodes {
  course { id instructors { userId } } certificate { id } } } }"""
MY_ENROLLMENTS = """query($status: EnrollmentStatus, $first: Int, $after: String) {
  myEnrollments(status: $status, first: $first, after: $after) {
    totalCount nodes { courseId status } pageInfo { hasNextPage endCursor } } }"""


def test_eligibility_lists_every_reason_at_once_and_enrolling_refuses_with_them(api):
    owner, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    basics = make_course(owner.id, title="Basics")
    advanced = make_course(
        owner.id, status=CourseStatus.DRAFT, price=4900, prerequisites=[basics.id]
    )

    answer = api.data(ELIGIBILITY, {"s": str(student.id), "c": advanced.id}, token)[
        "checkEnrollmentEligibility"
    ]
    assert answer["eligible"] is False
    codes = [reason["code"] for reason in answer["reasons"]]
    assert codes == ["COURSE_NOT_PUBLISHED", "PREREQUISITES_NOT_COMPLETED", "PAYMENT_REQUIRED"]
    assert answer["reasons"][1]["missingPrerequisites"] == [
        {"courseId": basics.id, "title": "Basics"}
    ]

    body = api.execute(ENROLL, {"c": advanced.id}, token)
    error = body["errors"][0]["extensions"]
    assert error["code"] == "COURSE_NOT_PUBLISHED"
    assert [r["code"] for r in error["reasons"]] == codes


def test_enrolling_in_a_draft_course_is_refused(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    draft = make_course(owner.id, status=CourseStatus.DRAFT)
    assert api.error_codes(ENROLL, {"c": draft.id}, token) == ["COURSE_NOT_PUBLISHED"]


def test_own_course_full_course_and_already_enrolled(api):
    owner, owner_token = create_user(Role.EDUCATOR)
    first, first_token = create_user(Role.STUDENT)
    _, second_token = create_user(Role.STUDENT)
    course = make_course(owner.id, limit=1)
    assert api.error_codes(ENROLL, {"c": course.id}, owner_token) == ["OWN_COURSE"]
    enroll(api, first_token, course.id)
    assert api.error_codes(ENROLL, {"c": course.id}, first_token) == ["ALREADY_ENROLLED"]
    assert api.error_codes(ENROLL, {"c": course.id}, second_token) == ["ENROLLMENT_LIMIT_REACHED"]
    # The instructor may check a student's eligibility; another student may not.
    answer = api.data(ELIGIBILITY, {"s": str(first.id), "c": course.id}, owner_token)
    assert [r["code"] for r in answer["checkEnrollmentEligibility"]["reasons"]] == [
        "ALREADY_ENROLLED"
    ]
    assert api.error_codes(ELIGIBILITY, {"s": str(first.id), "c": course.id}, second_token) == [
        "FORBIDDEN"
    ]


def test_enrolling_twice_at_once_makes_exactly_one_enrollment(api):
    owner, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    course = make_course(owner.id)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: api.execute(ENROLL, {"c": course.id}, token), range(8)))
    successes = [b for b in bodies if not b.get("errors")]
    assert len(successes) == 1
    assert {b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")} == {
        "ALREADY_ENROLLED"
    }
    with session_scope() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.student_id == student.id, Enrollment.course_id.in_([course.id]))
        )
    assert count == 1


def test_withdrawing_keeps_history_and_enrolling_again_resumes_progress(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = make_course(owner.id, lessons=[("One", "TEXT", False), ("Two", "TEXT", False)])
    enrollment = enroll(api, token, course.id)
    complete(api, token, enrollment["id"], course.lessons[0])
    dropped = api.data(WITHDRAW, {"e": enrollment["id"]}, token)["withdrawEnrollment"]
    assert dropped["status"] == "DROPPED" and dropped["droppedAt"]
    assert api.error_codes(COMPLETE, {"e": enrollment["id"], "l": course.lessons[1]}, token) == [
        "ENROLLMENT_NOT_ACTIVE"
    ]
    access = api.data(ACCESS, {"e": enrollment["id"], "l": course.lessons[1]}, token)[
        "checkLessonAccess"
    ]
    assert (access["allowed"], access["reason"]) == (False, "ENROLLMENT_NOT_ACTIVE")
    assert (
        api.data(MY_ENROLLMENTS, {"status": "DROPPED"}, token)["myEnrollments"]["totalCount"] == 1
    )

    resumed = enroll(api, token, course.id)
    assert resumed["id"] == enrollment["id"]
    assert (resumed["status"], resumed["completedLessons"], resumed["progressPercent"]) == (
        "ACTIVE",
        1,
        50.0,
    )


def test_progress_is_idempotent_and_out_of_order_safe(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = make_course(owner.id, lessons=[("Film", "VIDEO", False), ("Notes", "TEXT", False)])
    enrollment = enroll(api, token, course.id)
    e, film = enrollment["id"], course.lessons[0]

    first = report(
        api,
        token,
        e,
        film,
        percentWatched=50,
        positionSeconds=300,
        timeSpentSeconds=310,
        reportedAt="2030-01-01T10:05:00Z",
    )
    assert first["lessonProgress"]["percentWatched"] == 50
    assert first["enrollment"]["progressPercent"] == 25.0  # half of one of two lessons
    again = report(
        api,
        token,
        e,
        film,
        percentWatched=50,
        positionSeconds=300,
        timeSpentSeconds=310,
        reportedAt="2030-01-01T10:05:00Z",
    )
    assert again == first  # a retried report changes nothing, time is not counted twice
    late = report(
        api,
        token,
        e,
        film,
        percentWatched=40,
        positionSeconds=240,
        timeSpentSeconds=250,
        reportedAt="2030-01-01T10:04:00Z",
    )["lessonProgress"]
    assert (late["percentWatched"], late["positionSeconds"], late["timeSpentSeconds"]) == (
        50,
        300,
        310,
    )
    rewound = report(
        api,
        token,
        e,
        film,
        percentWatched=20,
        positionSeconds=120,
        reportedAt="2030-01-01T10:06:00Z",
    )["lessonProgress"]
    assert (rewound["percentWatched"], rewound["positionSeconds"]) == (
        50,
        120,
    )  # resume where left off


def test_video_completes_at_the_configured_share(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = make_course(owner.id, lessons=[("Film", "VIDEO", False), ("Notes", "TEXT", False)])
    e, film = enroll(api, token, course.id)["id"], course.lessons[0]
    report(api, token, e, film, percentWatched=60)
    body = api.execute(COMPLETE, {"e": e, "l": film}, token)
    assert body["errors"][0]["extensions"]["code"] == "VIDEO_NOT_WATCHED"
    assert body["errors"][0]["extensions"]["requiredPercent"] == 90
    done = report(api, token, e, film, positionSeconds=545)[
        "lessonProgress"
    ]  # 545 s of 600 s ≈ 91 %
    assert done["completed"] is True and done["completedAt"]
    reset = api.data(RESET, {"e": e, "l": film}, token)["resetLessonProgress"]
    assert (
        reset["lessonProgress"]["completed"] is False
        and reset["enrollment"]["completedLessons"] == 0
    )


def test_bad_progress_input_gets_clear_answers(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, other_token = create_user(Role.STUDENT)
    course = make_course(owner.id, lessons=[("One", "TEXT", False)])
    elsewhere = make_course(owner.id, lessons=[("Foreign", "TEXT", False)])
    e = enroll(api, token, course.id)["id"]

    def codes(token_, lesson, **fields):
        variables = {"input": {"enrollmentId": e, "lessonId": lesson, **fields}}
        return api.error_codes(UPDATE, variables, token_)

    assert codes(token, course.lessons[0], percentWatched=101) == ["INVALID_PERCENT"]
    assert codes(token, course.lessons[0], percentWatched=-1) == ["INVALID_PERCENT"]
    assert codes(token, course.lessons[0], positionSeconds=-5) == ["INVALID_SECONDS"]
    assert codes(token, elsewhere.lessons[0], percentWatched=10) == ["LESSON_NOT_IN_COURSE"]
    assert codes(other_token, course.lessons[0], percentWatched=10) == ["ENROLLMENT_NOT_FOUND"]
    _, admin_token = create_user(
        Role.ADMIN
    )  # may see the enrollment, but only the student records progress
    assert codes(admin_token, course.lessons[0], percentWatched=10) == ["NOT_YOUR_ENROLLMENT"]


def test_sequential_lessons_stay_locked_until_the_previous_is_complete(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = make_course(
        owner.id, lessons=[("One", "TEXT", False), ("Two", "TEXT", True), ("Three", "TEXT", True)]
    )
    e = enroll(api, token, course.id)["id"]
    one, two, three = course.lessons
    access = api.data(ACCESS, {"e": e, "l": two}, token)["checkLessonAccess"]
    assert access == {
        "allowed": False,
        "reason": "PREVIOUS_LESSON_INCOMPLETE",
        "message": "complete “One” first",
        "blockingLessonId": one,
    }
    body = api.execute(COMPLETE, {"e": e, "l": two}, token)
    assert body["errors"][0]["extensions"]["code"] == "LESSON_LOCKED"
    assert body["errors"][0]["extensions"]["blockingLessonId"] == one
    assert api.error_codes(
        UPDATE, {"input": {"enrollmentId": e, "lessonId": three, "percentWatched": 5}}, token
    ) == ["LESSON_LOCKED"]
    complete(api, token, e, one)
    assert api.data(ACCESS, {"e": e, "l": two}, token)["checkLessonAccess"]["allowed"] is True


def test_who_sees_which_enrollments(api):
    owner, owner_token = create_user(Role.EDUCATOR)
    _, stranger_token = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    _, other_student_token = create_user(Role.STUDENT)
    _, admin_token = create_user(Role.ADMIN)
    courses = [make_course(owner.id) for _ in range(3)]
    for course in courses:
        enroll(api, token, course.id)

    listed = api.data(COURSE_ENROLLMENTS, {"c": courses[0].id}, owner_token)["courseEnrollments"]
    assert listed == {
        "totalCount": 1,
        "nodes": [{"studentId": str(student.id), "status": "ACTIVE"}],
    }
    assert api.error_codes(COURSE_ENROLLMENTS, {"c": courses[0].id}, stranger_token) == [
        "FORBIDDEN"
    ]
    assert api.error_codes(COURSE_ENROLLMENTS, {"c": courses[0].id}, token) == ["FORBIDDEN"]
    assert (
        api.data(STUDENT_ENROLLMENTS, {"s": str(student.id)}, admin_token)["studentEnrollments"][
            "totalCount"
        ]
        == 3
    )
    assert api.error_codes(STUDENT_ENROLLMENTS, {"s": str(student.id)}, owner_token) == [
        "FORBIDDEN"
    ]
    assert api.error_codes(STUDENT_ENROLLMENTS, {"s": str(student.id)}, other_student_token) == [
        "FORBIDDEN"
    ]
    assert api.error_codes(ENROLL, {"c": courses[0].id}, None) == ["UNAUTHENTICATED"]
    listed_id = api.data(MY_ENROLLMENTS, {"first": 1}, token)["myEnrollments"]["nodes"][0][
        "courseId"
    ]
    detail = api.data(ENROLLMENT_DETAIL, {"c": listed_id}, owner_token)["courseEnrollments"][
        "nodes"
    ][0]
    assert detail["course"] == {"id": listed_id, "instructors": [{"userId": str(owner.id)}]}
    assert detail["certificate"] is None

    page = api.data(MY_ENROLLMENTS, {"first": 2}, token)["myEnrollments"]
    assert page["totalCount"] == 3 and len(page["nodes"]) == 2 and page["pageInfo"]["hasNextPage"]
    rest = api.data(MY_ENROLLMENTS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token)[
        "myEnrollments"
    ]
    assert len(rest["nodes"]) == 1 and not rest["pageInfo"]["hasNextPage"]
    seen = {n["courseId"] for n in page["nodes"] + rest["nodes"]}
    assert seen == {c.id for c in courses}
    assert api.error_codes(MY_ENROLLMENTS, {"first": 2, "after": "garbage"}, token) == [
        "INVALID_CURSOR"
    ]


def test_verifying_malformed_and_unknown_certificate_ids_answers_without_errors(api):
    malformed = api.data(VERIFY, {"id": "hello"})["verifyCertificate"]
    assert (malformed["result"], malformed["valid"], malformed["holderName"]) == (
        "MALFORMED",
        False,
        None,
    )
    from certificates import new_certificate_code

    code = new_certificate_code()
    unknown = api.data(VERIFY, {"id": code.lower()})["verifyCertificate"]
    assert (unknown["result"], unknown["valid"], unknown["certificateId"]) == (
        "NOT_FOUND",
        False,
        code,
    )
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")  # the check symbol catches it
    assert api.data(VERIFY, {"id": typo})["verifyCertificate"]["result"] == "MALFORMED"
