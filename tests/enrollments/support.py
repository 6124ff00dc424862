"""Courses straight in the database (the Courses module owns authoring) and GraphQL documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CoursePrerequisite,
    CourseStatus,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.db import session_scope


@dataclass
class Outline:
    id: str
    title: str
    lessons: list[str]  # lesson ids in course order


def make_course(
    owner_id,
    *,
    lessons=(("Welcome", "TEXT", False),),
    status=CourseStatus.PUBLISHED,
    price=0,
    limit=None,
    prerequisites=(),
    title=None,
    co_instructors=(),
) -> Outline:
    """A course with one module per two lessons; `lessons` are (title, type, requires_previous)."""
    title = title or f"Course {uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        course = Course(
            slug=f"c-{uuid.uuid4().hex[:12]}",
            title=title,
            owner_id=owner_id,
            status=status,
            price_amount=price,
            enrollment_limit=limit,
        )
        session.add(course)
        session.flush()
        session.add(
            CourseInstructor(course_id=course.id, user_id=owner_id, role=InstructorRole.OWNER)
        )
        for user_id in co_instructors:
            session.add(
                CourseInstructor(
                    course_id=course.id, user_id=user_id, role=InstructorRole.CO_INSTRUCTOR
                )
            )
        for prerequisite in prerequisites:
            session.add(
                CoursePrerequisite(course_id=course.id, prerequisite_id=uuid.UUID(prerequisite))
            )
        ids = []
        module = None
        for index, (lesson_title, kind, sequential) in enumerate(lessons):
            if index % 2 == 0:
                module = CourseModule(
                    course_id=course.id, title=f"Part {index // 2 + 1}", position=index // 2
                )
                session.add(module)
                session.flush()
            lesson = Lesson(
                module_id=module.id,
                course_id=course.id,
                title=lesson_title,
                type=LessonType(kind),
                requires_previous=sequential,
                position=index % 2,
                duration_seconds=600 if kind == "VIDEO" else 0,
            )
            session.add(lesson)
            session.flush()
            ids.append(str(lesson.id))
        return Outline(str(course.id), title, ids)


ENROLLMENT_FIELDS = """
  id studentId studentName courseId courseTitle status progressPercent completedLessons totalLessons
  timeSpentSeconds enrolledAt completedAt droppedAt
"""
ENROLL = (
    f"mutation($c: ID!) {{ enrollInCourse(input: {{courseId: $c}}) {{ {ENROLLMENT_FIELDS} }} }}"
)
WITHDRAW = (
    "mutation($e: ID!) { withdrawEnrollment(input: {enrollmentId: $e}) { "
    f"{ENROLLMENT_FIELDS} }} }}"
)
PROGRESS_FIELDS = (
    "enrollment { id status progressPercent completedLessons totalLessons timeSpentSeconds } "
    "lessonProgress { lessonId percentWatched positionSeconds timeSpentSeconds completed "
    "completedAt }"
)
UPDATE = f"""mutation($input: UpdateLessonProgressInput!) {{
  updateLessonProgress(input: $input) {{ {PROGRESS_FIELDS} }} }}"""
COMPLETE = (
    "mutation($e: ID!, $l: ID!) { completeLesson(enrollmentId: $e, lessonId: $l) { "
    f"{PROGRESS_FIELDS} }} }}"
)
RESET = (
    "mutation($e: ID!, $l: ID!) { resetLessonProgress(enrollmentId: $e, lessonId: $l) { "
    f"{PROGRESS_FIELDS} }} }}"
)
ACCESS = """query($e: ID!, $l: ID!) { checkLessonAccess(enrollmentId: $e, lessonId: $l) {
  allowed reason message blockingLessonId } }"""
ELIGIBILITY = """query($s: ID!, $c: ID!) { checkEnrollmentEligibility(studentId: $s, courseId: $c) {
  eligible reasons { code message missingPrerequisites { courseId title } } } }"""
CERTIFICATE_FIELDS = """id enrollmentId status version studentName courseTitle instructorNames
  completedAt issuedAt
  contentHash verificationUrl downloadUrl generationJobId revokedAt revokedReason"""
VERIFY = """query($id: String!) { verifyCertificate(certificateId: $id) {
  result valid message certificateId holderName courseTitle instructorNames completedAt version
  status } }"""


def enroll(api, token, course_id) -> dict:
    return api.data(ENROLL, {"c": course_id}, token)["enrollInCourse"]


def report(api, token, enrollment_id, lesson_id, **fields) -> dict:
    variables = {"input": {"enrollmentId": enrollment_id, "lessonId": lesson_id, **fields}}
    return api.data(UPDATE, variables, token)["updateLessonProgress"]


def complete(api, token, enrollment_id, lesson_id) -> dict:
    return api.data(COMPLETE, {"e": enrollment_id, "l": lesson_id}, token)["completeLesson"]


CERTIFICATE_LINKS = """query($e: ID!) { enrollment(id: $e) { certificate {
  id status generationJobId inline: downloadUrl attachment: downloadUrl(download: true) } } }"""


def issued_certificate(api, token, owner_id, watcher) -> tuple[Outline, dict]:
    """A one-lesson course the student completes; its certificate once the worker stored the PDF.

    `watcher` (a started JobWatcher) must outlive the call: it sees the issuing job finish.
    """
    course = make_course(owner_id, title="Writing")
    enrollment_id = enroll(api, token, course.id)["id"]
    complete(api, token, enrollment_id, course.lessons[0])
    links = api.data(CERTIFICATE_LINKS, {"e": enrollment_id}, token)["enrollment"]["certificate"]
    assert watcher.wait(links["generationJobId"])["status"] == "SUCCEEDED"
    return course, api.data(CERTIFICATE_LINKS, {"e": enrollment_id}, token)["enrollment"][
        "certificate"
    ]


def pdf_file_name(course_id: str, certificate_id: str, school: str = "Lyceum") -> str:
    """What the student's saved copy is called: `<school>-<course-slug>-<certificate-id>.pdf`."""
    with session_scope() as session:
        slug = session.get(Course, uuid.UUID(course_id)).slug
    return f"{school}-{slug}-{certificate_id}.pdf"
