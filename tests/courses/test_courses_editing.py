"""Creating and editing courses through GraphQL: who may, what is accepted, what is refused."""

from __future__ import annotations

import uuid

from lms.users.models import Role
from tests.courses.seed import seed_courses
from tests.courses.support import BY_SLUG, COURSE, CREATE, DELETE, UPDATE, create_course, verified


def test_only_educators_create_courses(api, student, admin):
    assert api.error_codes(CREATE, {"input": {"title": "Mine"}}, student[1]) == ["FORBIDDEN"]
    assert api.error_codes(CREATE, {"input": {"title": "Mine"}}, admin[1]) == ["FORBIDDEN"]
    assert api.error_codes(CREATE, {"input": {"title": "Mine"}}) == ["UNAUTHENTICATED"]


def test_a_new_course_is_a_draft_owned_by_its_creator(api, educator):
    user, token = educator
    course = create_course(
        api,
        token,
        title="  Intro à Python 3!  ",
        category="Programming",
        tags=["Python", "python", " Basics "],
        difficulty="INTERMEDIATE",
        language="pt-BR",
        priceAmount=4900,
        currency="eur",
        enrollmentLimit=30,
    )
    assert course["title"] == "Intro à Python 3!"
    assert course["slug"].startswith("intro-a-python-3")
    assert course["status"] == "DRAFT"
    assert course["tags"] == ["basics", "python"]
    assert (course["priceAmount"], course["currency"], course["isFree"]) == (4900, "EUR", False)
    assert course["instructors"] == [{"userId": str(user.id), "name": user.name, "role": "OWNER"}]
    assert course["viewerCanEdit"] is True
    assert (course["moduleCount"], course["lessonCount"], course["modules"]) == (0, 0, [])
    assert course["coverImage"] is None
    # A draft is invisible to everyone but its instructors and admins.
    assert api.error_codes(COURSE, {"id": course["id"]}) == ["COURSE_NOT_FOUND"]
    assert api.data(COURSE, {"id": course["id"]}, token)["course"]["id"] == course["id"]


def test_same_titles_get_distinct_slugs_and_a_taken_slug_is_refused(api, educator, other_educator):
    title = f"Data Science {uuid.uuid4().hex[:6]}"
    first = create_course(api, educator[1], title=title)
    second = create_course(api, other_educator[1], title=title)
    assert first["slug"] != second["slug"] and second["slug"] == first["slug"] + "-2"

    taken = {"input": {"title": "Another", "slug": first["slug"]}}
    assert api.error_codes(CREATE, taken, other_educator[1]) == ["SLUG_TAKEN"]
    assert api.error_codes(
        UPDATE, {"id": second["id"], "input": {"slug": first["slug"]}}, other_educator[1]
    ) == ["SLUG_TAKEN"]
    for bad in ("Has Spaces", "-leading", "UPPER_case", "a" * 81, ""):
        assert api.error_codes(CREATE, {"input": {"title": "x", "slug": bad}}, educator[1]) == [
            "INVALID_SLUG"
        ]


def test_a_drafts_slug_follows_its_title(api, educator):
    course = create_course(api, educator[1], title=f"Old Name {uuid.uuid4().hex[:6]}")
    renamed = api.data(
        UPDATE,
        {"id": course["id"], "input": {"title": "New Name " + course["slug"][-6:]}},
        educator[1],
    )["updateCourse"]
    assert renamed["slug"].startswith("new-name-")
    # A never-published draft's old slug is released, not kept.
    assert api.error_codes(BY_SLUG, {"slug": course["slug"]}, educator[1]) == ["COURSE_NOT_FOUND"]


def test_titles_are_required_and_bounded(api, educator):
    token = educator[1]
    huge = "T" * 10_000
    body = api.execute(CREATE, {"input": {"title": huge}}, token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TITLE_TOO_LONG"
    assert error["extensions"]["field"] == "title" and error["extensions"]["maxLength"] == 200
    assert api.error_codes(CREATE, {"input": {"title": "   \u200b "}}, token) == ["TITLE_REQUIRED"]
    course = create_course(api, token)
    assert api.error_codes(UPDATE, {"id": course["id"], "input": {"title": huge}}, token) == [
        "TITLE_TOO_LONG"
    ]
    assert api.data(COURSE, {"id": course["id"]}, token)["course"]["title"] == course["title"]


def test_descriptions_are_sanitized(api, educator):
    description = (
        '<p onclick="steal()">Learn <strong>fast</strong>'
        "<script>alert(document.cookie)</script></p>"
        '<img src="x" onerror="alert(1)"><a href="javascript:alert(1)">bad</a>'
        '<a href="https://python.org">docs</a><iframe src="https://evil.test"></iframe><style>*{}</style>'
    )
    course = create_course(api, educator[1], description=description)
    html = course["description"]
    for forbidden in (
        "<script",
        "alert(",
        "onclick",
        "onerror",
        "javascript:",
        "<iframe",
        "<style",
    ):
        assert forbidden not in html
    assert "<strong>fast</strong>" in html
    assert '<a href="https://python.org" rel="noopener noreferrer nofollow">docs</a>' in html

    updated = api.data(
        UPDATE,
        {"id": course["id"], "input": {"description": "<svg onload=alert(1)>hi</svg>"}},
        educator[1],
    )["updateCourse"]
    assert updated["description"] == "hi"


def test_invalid_prices_and_values_are_refused(api, educator):
    token = educator[1]
    cases = [
        ({"priceAmount": -1}, "INVALID_PRICE"),
        ({"priceAmount": 2_000_000_000}, "INVALID_PRICE"),
        ({"currency": "XYZ"}, "INVALID_CURRENCY"),
        ({"currency": "dollars"}, "INVALID_CURRENCY"),
        ({"enrollmentLimit": 0}, "INVALID_ENROLLMENT_LIMIT"),
        ({"language": "english please"}, "INVALID_LANGUAGE"),
        ({"tags": [f"t{n}" for n in range(11)]}, "TOO_MANY_TAGS"),
        ({"tags": ["<b>bold</b>"]}, "INVALID_TAG"),
    ]
    for fields, code in cases:
        assert api.error_codes(CREATE, {"input": {"title": "Priced", **fields}}, token) == [code], (
            fields
        )
    course = create_course(api, token, priceAmount=1500)
    assert api.error_codes(UPDATE, {"id": course["id"], "input": {"priceAmount": -500}}, token) == [
        "INVALID_PRICE"
    ]
    # Beyond a 32-bit Int the GraphQL layer itself refuses the variable.
    assert api.error_codes(
        UPDATE, {"id": course["id"], "input": {"priceAmount": 2**40}}, token
    ) == ["GRAPHQL_VALIDATION_FAILED"]
    assert api.data(COURSE, {"id": course["id"]}, token)["course"]["priceAmount"] == 1500
    free = api.data(UPDATE, {"id": course["id"], "input": {"priceAmount": 0}}, token)[
        "updateCourse"
    ]
    assert free["isFree"] is True


def test_an_educator_cannot_change_someone_elses_course(api, educator, other_educator):
    draft = create_course(api, educator[1])
    [published] = seed_courses(educator[0].id, 1)
    intruder = other_educator[1]
    change = {"input": {"title": "Mine now"}}
    # Someone else's draft does not even exist for them; a published course is visible but not
    # theirs.
    assert api.error_codes(UPDATE, {"id": draft["id"], **change}, intruder) == ["COURSE_NOT_FOUND"]
    assert api.error_codes(UPDATE, {"id": str(published), **change}, intruder) == ["FORBIDDEN"]
    assert api.error_codes(DELETE, {"id": str(published)}, intruder) == ["FORBIDDEN"]
    assert api.data(COURSE, {"id": str(published)}, intruder)["course"]["viewerCanEdit"] is False
    assert api.data(COURSE, {"id": str(published)})["course"]["title"] != "Mine now"


def test_co_instructors_edit_but_only_the_owner_manages_instructors(
    api, educator, other_educator, student, admin
):
    owner, co = educator, other_educator
    course = create_course(api, owner[1], coInstructorIds=[str(co[0].id)])
    assert [i["role"] for i in course["instructors"]] == ["OWNER", "CO_INSTRUCTOR"]
    edited = api.data(UPDATE, {"id": course["id"], "input": {"category": "Design"}}, co[1])[
        "updateCourse"
    ]
    assert edited["category"] == "Design" and edited["viewerCanEdit"] is True
    assert api.error_codes(
        UPDATE, {"id": course["id"], "input": {"coInstructorIds": []}}, co[1]
    ) == ["FORBIDDEN"]
    assert api.error_codes(DELETE, {"id": course["id"]}, co[1]) == ["FORBIDDEN"]
    bad = {"id": course["id"], "input": {"coInstructorIds": [str(student[0].id)]}}
    assert api.error_codes(UPDATE, bad, owner[1]) == ["INVALID_INSTRUCTOR"]
    # Admins may change any course.
    by_admin = api.data(UPDATE, {"id": course["id"], "input": {"coInstructorIds": []}}, admin[1])[
        "updateCourse"
    ]
    assert [i["role"] for i in by_admin["instructors"]] == ["OWNER"]
    assert api.error_codes(UPDATE, {"id": course["id"], "input": {"category": "x"}}, co[1]) == [
        "COURSE_NOT_FOUND"
    ]


def test_prerequisites_must_exist_and_not_form_a_cycle(api, educator, other_educator):
    token = educator[1]
    a = create_course(api, token, title="Course A")
    b = create_course(api, token, title="Course B", prerequisiteIds=[a["id"]])
    query = "query($id: ID!) { course(id: $id) { prerequisites { id title } } }"
    assert api.data(query, {"id": b["id"]}, token)["course"]["prerequisites"] == [
        {"id": a["id"], "title": "Course A"}
    ]
    assert api.error_codes(
        UPDATE, {"id": a["id"], "input": {"prerequisiteIds": [b["id"]]}}, token
    ) == ["PREREQUISITE_CYCLE"]
    assert api.error_codes(
        UPDATE, {"id": a["id"], "input": {"prerequisiteIds": [a["id"]]}}, token
    ) == ["PREREQUISITE_CYCLE"]
    hidden = create_course(api, other_educator[1])  # someone else's draft
    for unknown in (str(uuid.uuid4()), hidden["id"]):
        assert api.error_codes(
            UPDATE, {"id": a["id"], "input": {"prerequisiteIds": [unknown]}}, token
        ) == ["PREREQUISITE_NOT_FOUND"]


def test_status_changes_outside_the_workflow_are_refused(api, educator):
    course = create_course(api, educator[1])
    for target in ("PUBLISHED", "PENDING_REVIEW"):
        body = {"id": course["id"], "input": {"status": target}}
        assert api.error_codes(UPDATE, body, educator[1]) == ["INVALID_STATUS_TRANSITION"]
    archived = api.data(UPDATE, {"id": course["id"], "input": {"status": "ARCHIVED"}}, educator[1])[
        "updateCourse"
    ]
    assert archived["status"] == "ARCHIVED"
    assert api.error_codes(
        UPDATE, {"id": course["id"], "input": {"status": "DRAFT"}}, educator[1]
    ) == ["INVALID_STATUS_TRANSITION"]


def test_unknown_ids_are_not_found_and_malformed_ones_refused(api, educator):
    unknown = str(uuid.uuid4())
    assert api.error_codes(COURSE, {"id": unknown}, educator[1]) == ["COURSE_NOT_FOUND"]
    assert api.error_codes(UPDATE, {"id": unknown, "input": {"title": "x"}}, educator[1]) == [
        "COURSE_NOT_FOUND"
    ]
    # not a UUID at all: refused before any lookup (web/input_hygiene.py)
    for bad in ("not-an-id", "1; DROP TABLE courses"):
        assert api.error_codes(COURSE, {"id": bad}, educator[1]) == ["BAD_USER_INPUT"]
        assert api.error_codes(UPDATE, {"id": bad, "input": {"title": "x"}}, educator[1]) == [
            "BAD_USER_INPUT"
        ]


def test_a_student_cannot_edit_even_a_published_course(api, educator, student):
    [published] = seed_courses(educator[0].id, 1)
    assert api.error_codes(UPDATE, {"id": str(published), "input": {"title": "x"}}, student[1]) == [
        "FORBIDDEN"
    ]
    unverified_educator = verified(Role.EDUCATOR)
    assert api.error_codes(
        UPDATE, {"id": str(published), "input": {"title": "x"}}, unverified_educator[1]
    ) == ["FORBIDDEN"]


def test_each_mutation_in_a_document_sees_the_previous_ones(api, educator):
    course = create_course(api, educator[1], tags=["start"])
    document = """mutation($id: ID!) {
      first: updateCourse(id: $id, input: {tags: ["alpha"]}) { tags }
      second: updateCourse(id: $id, input: {tags: ["beta"]}) { tags }
    }"""
    data = api.data(document, {"id": course["id"]}, educator[1])
    assert data == {"first": {"tags": ["alpha"]}, "second": {"tags": ["beta"]}}
