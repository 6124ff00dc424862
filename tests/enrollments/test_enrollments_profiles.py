"""ENROLLED_ONLY profiles are visible to classmates and the course's instructors only."""

from __future__ import annotations

from lms.users.models import Role
from tests.enrollments.support import enroll, make_course
from tests.support import create_user

USER = "query($id: ID!) { user(id: $id) { id name profileVisibility } }"
HIDE = 'mutation { updateProfile(input: {profileVisibility: ENROLLED_ONLY}) { id profileVisibility } }'


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
