"""The query cost limit counts what a document makes the server resolve: page sizes and
nested lists multiply, so only truly expensive documents are refused."""

from __future__ import annotations

from lms.config import get_settings

CARDS = """query($first: Int) { courses(pagination: {first: $first}) {
  totalCount edges { node { id slug title tags instructors { name }
    modules { id title position durationSeconds
      lessons { id title type position durationSeconds isFreePreview requiresPrevious content } }
  } } } }"""
TITLES = """query($first: Int) { courses(pagination: {first: $first}) {
  edges { node { id title modules { title } } } } }"""


def test_a_full_page_of_course_cards_with_modules_and_lessons_is_allowed(api):
    data = api.data(CARDS, {"first": 20})
    assert "edges" in data["courses"]


def test_a_hundred_titles_are_cheap(api):
    data = api.data(TITLES, {"first": 100})
    assert "edges" in data["courses"]


def test_a_hundred_courses_with_every_module_and_lesson_are_refused_with_the_cost(api):
    response = api.post(CARDS, {"first": 100})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    extensions = error["extensions"]
    assert extensions["code"] == "QUERY_TOO_COSTLY"
    assert extensions["maxCost"] == get_settings().query_max_cost
    assert extensions["cost"] > extensions["maxCost"]
    assert str(extensions["cost"]) in error["message"]


def test_the_page_size_counts_whether_literal_or_variable(api):
    literal = CARDS.replace("query($first: Int)", "query").replace("$first", "100")
    assert api.error_codes(literal) == ["QUERY_TOO_COSTLY"]
    nested = """{ myEnrollments(first: 100) { edges { node { course { modules {
        lessons { id title content position durationSeconds type isFreePreview requiresPrevious }
    } } } } } }"""
    assert "QUERY_TOO_COSTLY" in api.error_codes(nested)
