"""Search through the GraphQL API with a worker: the index follows course edits made with
the Courses mutations (index jobs from the outbox), and bad input answers with codes."""

from __future__ import annotations

import uuid

import pytest

from lms.db import session_scope
from lms.search.service import roll_up_trending
from lms.users.models import Role
from tests.courses.support import (
    LONG_DESCRIPTION,
    PUBLISH,
    UPDATE,
    add_lesson,
    add_module,
    create_course,
    png_data_url,
    verified,
    wait_for_job,
)
from tests.support import JobWatcher, start_worker

SEARCH = """query($q: String!, $filters: SearchFilters, $pagination: SearchPagination,
                  $sort: SearchSort, $facets: Boolean) {
  searchCourses(query: $q, filters: $filters, pagination: $pagination, sort: $sort,
                includeFacets: $facets) {
    query correctedQuery totalCount page pageSize hasNextPage
    hits { courseId slug title category difficulty isFree averageRating score
           highlights { title text } course { id status } }
    facets { name buckets { value count selected } }
  }
}"""
LESSONS = """query($q: String!, $courseId: ID) {
  searchLessons(query: $q, courseId: $courseId) {
    totalCount hits { title courseTitle viewerCanRead highlights { title text } }
  }
}"""
HEALTH = """{ searchHealth { status backend courseDocuments lessonDocuments terms
                            pendingCourses lagSeconds lastIndexedAt } }"""
WORD = "quokka" + uuid.uuid4().hex[:6]  # a word no other course of this run has


@pytest.fixture(scope="module")
def worker():
    process = start_worker("default")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


@pytest.fixture(scope="module")
def educator():
    return verified(Role.EDUCATOR)


def indexed(watcher, course_id: str) -> None:
    """Wait for the index job the last course change requested."""
    assert wait_for_job(watcher, course_id, "search.index_course")["status"] == "SUCCEEDED"


def found(api, query: str, token: str | None = None) -> list[str]:
    return [hit["title"] for hit in api.data(SEARCH, {"q": query}, token)["searchCourses"]["hits"]]


def test_the_index_follows_course_edits(api, worker, watcher, educator):
    _, token = educator
    course = create_course(
        api,
        token,
        title=f"Origami for Engineers {WORD}",
        description=LONG_DESCRIPTION,
        category="Crafts",
        tags=["paper"],
        coverImageDataUrl=png_data_url(),
    )
    module = add_module(api, token, course["id"], "Folds")
    add_lesson(api, token, module["id"], "Valley folds", content="<p>Crease the paper.</p>")
    assert wait_for_job(watcher, course["id"], "courses.resize_cover")["status"] == "SUCCEEDED"
    assert found(api, WORD) == []  # a draft is never found

    api.data(PUBLISH, {"id": course["id"]}, token)
    indexed(watcher, course["id"])
    result = api.data(SEARCH, {"q": f"origami {WORD}"})["searchCourses"]
    assert result["totalCount"] == 1
    hit = result["hits"][0]
    assert hit["highlights"]["title"] == f"<mark>Origami</mark> for Engineers <mark>{WORD}</mark>"
    assert hit["course"] == {"id": course["id"], "status": "PUBLISHED"}

    api.data(UPDATE, {"id": course["id"], "input": {"title": f"Kirigami Basics {WORD}"}}, token)
    indexed(watcher, course["id"])
    assert found(api, f"kirigami {WORD}") == [f"Kirigami Basics {WORD}"]
    assert found(api, f"origami {WORD} ") == []

    lessons = api.data(LESSONS, {"q": "valley folds", "courseId": course["id"]})["searchLessons"]
    assert [hit["title"] for hit in lessons["hits"]] == ["Valley folds"]
    assert lessons["hits"][0]["courseTitle"] == f"Kirigami Basics {WORD}"

    health = api.data(HEALTH)["searchHealth"]
    assert health["backend"] == "POSTGRESQL" and health["courseDocuments"] >= 1
    assert health["lastIndexedAt"] is not None

    api.data(UPDATE, {"id": course["id"], "input": {"status": "ARCHIVED"}}, token)
    indexed(watcher, course["id"])
    assert found(api, WORD) == []


def test_trending_searches_come_from_the_rollup(api, educator):
    query = f"trending {WORD}"
    for token in (educator[1], verified(Role.STUDENT)[1]):
        api.data(SEARCH, {"q": query}, token)
    with session_scope() as session:
        roll_up_trending(session)
    # Only searches with results trend; these found nothing, so they stay out.
    trending = api.data("{ trendingSearches(limit: 50) { query searches searchers } }")
    assert query not in [t["query"] for t in trending["trendingSearches"]]


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"q": ""}, "EMPTY_QUERY"),
        ({"q": "x" * 1000}, "QUERY_TOO_LONG"),
        ({"q": '"unbalanced -'}, None),
        ({"q": "-only -exclusions"}, "NO_SEARCH_TERMS"),
        ({"q": "python", "pagination": {"pageSize": -1}}, "INVALID_PAGE_SIZE"),
        ({"q": "python", "pagination": {"pageSize": 100_000}}, "INVALID_PAGE_SIZE"),
        ({"q": "python", "sort": "CHEAPEST"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"q": "python", "filters": {"minRating": 9}}, "INVALID_SEARCH_FILTER"),
    ],
)
def test_bad_input_answers_with_a_code(api, variables, code):
    codes = api.error_codes(SEARCH, variables)
    assert codes == ([code] if code else [])


def test_unknown_facets_and_limits_answer_with_a_code(api, educator):
    facet = '{ searchCourses(query: "python", facets: ["colour"]) { totalCount } }'
    assert api.error_codes(facet) == ["UNKNOWN_FACET"]
    assert api.error_codes('{ autocomplete(query: "py", limit: 0) { text } }') == ["INVALID_LIMIT"]
    assert api.error_codes("{ trendingSearches(limit: 1000) { query } }") == ["INVALID_LIMIT"]
    draft = create_course(api, educator[1], title=f"Hidden {WORD}")
    assert api.error_codes(LESSONS, {"q": "hidden", "courseId": draft["id"]}) == [
        "COURSE_NOT_FOUND"
    ]
