"""What enrolment opens: ENROLLED_ONLY profiles of classmates, and lesson content."""

from __future__ import annotations

import uuid

from lms.courses.models import Lesson
from lms.db import session_scope
from lms.users.models import Role
from tests.enrollments.support import enroll, make_course
from tests.support import create_user

USER = "query($id: ID!) { user(id: $id) { id name profileVisibility } }"
HIDE = (
    "mutation { updateProfile(input: {profileVisibility: ENROLLED_ONLY}) { id profileVisibility } }"
)


def test_enrolled_only_profiles_open_to_classmates_and_instructors(api):
    educator, educator_token = create_user(Role.EDUCATOR)
    course = make_course(educator.id)
    owner, owner_token = create_user(Role.STUDENT)
    classmate, classmate_token = create_user(Role.STUDENT)
    _, stranger_token = create_user(Role.STUDENT)
    api.data(HIDE, token=owner_token)
    variables = {"id": str(owner.id)}

    # Before anyone enrols, nobody but the owner (and admins) meets them in a course.
    for token in (classmate_token, educator_token):
        assert api.error_codes(USER, variables, token) == ["FORBIDDEN"]

    enroll(api, owner_token, course.id)
    enroll(api, classmate_token, course.id)
    assert api.data(USER, variables, classmate_token)["user"]["name"] == owner.name
    assert api.data(USER, variables, educator_token)["user"]["name"] == owner.name
    assert api.error_codes(USER, variables, stranger_token) == ["FORBIDDEN"]


LESSON_CONTENT = "query($id: ID!) { course(id: $id) { modules { lessons { id content } } } }"


def test_enrolled_students_read_lesson_content(api):
    educator, _ = create_user(Role.EDUCATOR)
    course = make_course(educator.id)
    with session_scope() as session:
        session.get(Lesson, uuid.UUID(course.lessons[0])).content = "Lesson one text"
    _, student_token = create_user(Role.STUDENT)

    def contents() -> list:
        modules = api.data(LESSON_CONTENT, {"id": course.id}, student_token)["course"]["modules"]
        return [lesson["content"] for module in modules for lesson in module["lessons"]]

    assert contents() == [None]
    enroll(api, student_token, course.id)
    assert contents() == ["Lesson one text"]
