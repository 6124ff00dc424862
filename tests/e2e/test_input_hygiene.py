"""Hostile input gets BAD_USER_INPUT before any service runs, inline or as a variable."""

from __future__ import annotations

import pytest

from lms.users.models import Role
from tests.support import create_user

RETRY_SINCE_INLINE = 'mutation { retryJobs(input: {since: "x"}) { retriedCount } }'
RETRY_SINCE = "mutation($s: DateTime) { retryJobs(input: {since: $s}) { retriedCount } }"
BY_SLUG = "query($s: String!) { courseBySlug(slug: $s) { id } }"
COURSES = "query($f: CourseFilter) { courses(filter: $f) { totalCount } }"
PROFILE = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id bio } }"


def refused(api, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    response = api.post(query, variables, token)
    assert response.status_code == 400, response.text  # nothing executed
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return error


@pytest.fixture(scope="module")
def admin_token():
    return create_user(Role.ADMIN)[1]


def test_bad_timestamps_inline_and_as_variables(api, admin_token):
    inline = refused(api, RETRY_SINCE_INLINE, token=admin_token)
    assert "ISO-8601" in inline["message"]
    assert "ISO-8601" in refused(api, RETRY_SINCE, {"s": "x"}, admin_token)["message"]
    assert (
        "timezone"
        in refused(api, RETRY_SINCE, {"s": "2026-01-01T00:00:00"}, admin_token)["message"]
    )


def test_control_characters_never_reach_the_database(api, admin_token):
    assert "U+0000" in refused(api, '{ courseBySlug(slug: "a\\u0000") { id } }')["message"]
    refused(api, BY_SLUG, {"s": "a\x00"})
    refused(api, BY_SLUG, {"s": "\x1b[31mred"})
    refused(api, COURSES, {"f": {"language": "en\x00"}})
    refused(api, COURSES, {"f": {"currency": "\x7fUSD"}})
    refused(api, '{ courses(filter: {currency: "U\\u0008SD"}) { totalCount } }')
    refused(api, PROFILE, {"i": {"bio": "hello\x00"}}, admin_token)
    refused(api, 'mutation { completeUpload(fileKey: "k\\u0000") { videoAsset { id } } }')


def test_tabs_and_newlines_are_ordinary_text(api, admin_token):
    bio = "Line one\n\tLine two\r\n"
    assert api.data(PROFILE, {"i": {"bio": bio}}, admin_token)["updateProfile"]["bio"]


def test_ids_that_are_not_uuids(api, admin_token):
    error = refused(
        api, 'mutation { updateProfile(input: {userId: "1"}) { id } }', token=admin_token
    )
    assert "not a valid id" in error["message"]
    refused(api, PROFILE, {"i": {"userId": "1"}}, admin_token)
    refused(api, PROFILE, {"i": {"userId": 1}}, admin_token)
    refused(api, "{ course(id: 12) { id } }")
    assert api.error_codes("query($id: ID!) { course(id: $id) { id } }", {"id": "x"}) == [
        "BAD_USER_INPUT"
    ]
