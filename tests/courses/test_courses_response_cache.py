"""Whole-response cache of anonymous catalog queries: served again without the database,
invalidated by course, module and lesson changes, never used for viewers, mutations or
answers with errors.

`X-Cache: HIT|MISS|BYPASS` says what the API did. That a HIT really skipped the database
is shown by changing a title behind the API's back (straight in the database, so the
catalog version does not move): the anonymous answer keeps the old title, a signed-in
viewer's answer (never cached) shows the new one.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from lms.courses.models import Course
from lms.db import session_scope
from tests.courses.seed import seed_courses
from tests.courses.support import UPDATE, add_module

PAGE = """query Page($f: CourseFilter) { courses(filter: $f, pagination: {first: 5}) {
  totalCount edges { node { id title instructors { name }
    modules { title lessons { title } } } } } }"""
COURSE = """query($id: ID!) { course(id: $id) { id title
  modules { id title lessons { id title durationSeconds } } } }"""
BY_SLUG = "query($slug: String!) { courseBySlug(slug: $slug) { id title } }"
UPDATE_LESSON = """mutation($id: ID!, $input: UpdateLessonInput!) {
  updateLesson(id: $id, input: $input) { id title } }"""


@pytest.fixture(scope="module")
def catalog(educator) -> dict:
    category = f"rc-{uuid.uuid4().hex[:8]}"
    ids = seed_courses(educator[0].id, 2, modules=1, lessons=2, category=category)
    return {"category": category, "ids": [str(i) for i in ids]}


def ask(api, query: str, variables: dict, token: str | None = None, **extra) -> tuple[str, dict]:
    response = api.http.post(
        "/graphql",
        json={"query": query, "variables": variables, **extra},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    return response.headers["X-Cache"], response.json()


def titles(body: dict) -> list[str]:
    return [edge["node"]["title"] for edge in body["data"]["courses"]["edges"]]


def test_anonymous_catalog_page_comes_from_the_cache_until_a_course_changes(
    api, catalog, educator, student
):
    variables = {"f": {"category": catalog["category"]}}
    first = api.http.post("/graphql", json={"query": PAGE, "variables": variables})
    again = api.http.post("/graphql", json={"query": PAGE, "variables": variables})
    assert first.headers["X-Cache"] == "MISS" and again.headers["X-Cache"] == "HIT"
    assert again.content == first.content and "errors" not in again.json()
    original = titles(first.json())
    assert len(original) == 2

    newest = catalog["ids"][0]  # seeded newest first, so first on the page
    with session_scope() as session:  # behind the API's back: no catalog version bump
        session.execute(
            update(Course).where(Course.id == uuid.UUID(newest)).values(title="Edited in SQL")
        )

    outcome, body = ask(api, PAGE, variables)
    assert (outcome, titles(body)) == ("HIT", original)  # the database was not read
    outcome, body = ask(api, PAGE, variables, token=student[1])
    assert outcome == "BYPASS" and titles(body)[0] == "Edited in SQL"

    renamed = api.data(
        UPDATE, {"id": newest, "input": {"title": "Renamed through the API"}}, educator[1]
    )
    assert renamed["updateCourse"]["title"] == "Renamed through the API"
    outcome, body = ask(api, PAGE, variables)
    assert outcome == "MISS" and titles(body)[0] == "Renamed through the API"
    assert ask(api, PAGE, variables)[0] == "HIT"


def test_course_by_id_is_invalidated_by_module_and_lesson_changes(api, catalog, educator):
    course_id = catalog["ids"][1]
    variables = {"id": course_id}
    assert ask(api, COURSE, variables)[0] == "MISS"
    outcome, body = ask(api, COURSE, variables)
    assert outcome == "HIT" and [m["title"] for m in body["data"]["course"]["modules"]] == [
        "Module 1"
    ]

    add_module(api, educator[1], course_id, title="Bonus module")
    outcome, body = ask(api, COURSE, variables)
    assert outcome == "MISS"
    assert [m["title"] for m in body["data"]["course"]["modules"]] == ["Module 1", "Bonus module"]

    lesson = body["data"]["course"]["modules"][0]["lessons"][0]
    api.data(
        UPDATE_LESSON, {"id": lesson["id"], "input": {"title": "Retitled lesson"}}, educator[1]
    )
    outcome, body = ask(api, COURSE, variables)
    assert outcome == "MISS"
    assert body["data"]["course"]["modules"][0]["lessons"][0]["title"] == "Retitled lesson"
    assert ask(api, COURSE, variables)[0] == "HIT"


def test_course_by_slug_is_cached_for_anonymous_visitors(api, catalog, educator):
    slug = api.data(COURSE.replace("id title", "id slug title", 1), {"id": catalog["ids"][1]})[
        "course"
    ]["slug"]
    assert [ask(api, BY_SLUG, {"slug": slug})[0] for _ in range(2)] == ["MISS", "HIT"]


def test_signed_in_viewers_are_never_served_from_the_cache(api, catalog, student, educator):
    variables = {"f": {"category": catalog["category"]}}
    ask(api, PAGE, variables)  # an anonymous answer is in the cache
    for token in (student[1], educator[1], student[1]):
        outcome, body = ask(api, PAGE, variables, token=token)
        assert outcome == "BYPASS" and "errors" not in body
    # an invalid token is never cached either: it gets its own UNAUTHENTICATED answer
    outcome, body = ask(api, PAGE, variables, token="not-a-token")
    assert outcome == "BYPASS"
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_mutations_and_other_root_fields_are_never_cached(api, catalog):
    assert [ask(api, "mutation { __typename }", {})[0] for _ in range(2)] == ["BYPASS"] * 2
    both = "mutation M { __typename } query Q { courses(pagination: {first: 1}) { totalCount } }"
    assert [ask(api, both, {}, operationName="M")[0] for _ in range(2)] == ["BYPASS"] * 2
    assert [ask(api, both, {}, operationName="Q")[0] for _ in range(2)] == ["MISS", "HIT"]
    mixed = "{ courses(pagination: {first: 1}) { totalCount } __schema { queryType { name } } }"
    assert [ask(api, mixed, {})[0] for _ in range(2)] == ["BYPASS"] * 2
    spread = "query { ...Q } fragment Q on Query { course(id: $x) { id } }"  # invalid: errors
    outcome, body = ask(api, spread, {})
    assert outcome == "MISS" and body["errors"]


def test_answers_with_errors_are_not_cached(api, catalog):
    missing = {"id": str(uuid.uuid4())}
    for _ in range(2):
        outcome, body = ask(api, COURSE, missing)
        assert outcome == "MISS"
        assert body["errors"][0]["extensions"]["code"] == "COURSE_NOT_FOUND"
