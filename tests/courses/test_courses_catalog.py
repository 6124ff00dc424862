"""Discovery: filters, sorts, who sees which statuses, cursor pagination and its abuse."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from lms.courses.models import CourseStatus
from lms.users.models import Role
from tests.courses.seed import seed_courses
from tests.courses.support import verified

CATALOG = """query($f: CourseFilter, $p: PaginationInput) { courses(filter: $f, pagination: $p) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { id title status category difficulty priceAmount isFree enrollmentCount
    averageRating
    tags instructors { userId } } } } }"""
MINE = """query($f: CourseFilter, $p: PaginationInput) { myCourses(filter: $f, pagination: $p) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id status } } }"""


@pytest.fixture(scope="module")
def catalog(educator, other_educator):
    """24 published and 3 draft courses of `educator` (other_educator co-teaches the drafts)."""
    category = f"cat-{uuid.uuid4().hex[:8]}"
    published = seed_courses(educator[0].id, 24, modules=1, lessons=1, category=category)
    drafts = seed_courses(
        educator[0].id,
        3,
        modules=1,
        lessons=1,
        category=category,
        status=CourseStatus.DRAFT,
        co_instructor_id=other_educator[0].id,
    )
    return {
        "category": category,
        "published": {str(i) for i in published},
        "drafts": {str(i) for i in drafts},
    }


def nodes(connection: dict) -> list[dict]:
    return [edge["node"] for edge in connection["edges"]]


def listing(api, filter: dict, token: str | None = None, **pagination) -> dict:
    return api.data(CATALOG, {"f": filter, "p": pagination or {"first": 100}}, token)["courses"]


def test_the_catalog_lists_published_courses_only(
    api, catalog, educator, other_educator, student, admin
):
    mine = {"category": catalog["category"]}
    for token in (None, student[1], educator[1]):
        found = listing(api, mine, token)
        assert {n["id"] for n in nodes(found)} == catalog["published"]
        assert found["totalCount"] == 24
    drafts = {**mine, "status": "DRAFT"}
    assert listing(api, drafts)["totalCount"] == 0
    assert listing(api, drafts, student[1])["totalCount"] == 0
    assert {n["id"] for n in nodes(listing(api, drafts, educator[1]))} == catalog["drafts"]
    assert {n["id"] for n in nodes(listing(api, drafts, other_educator[1]))} == catalog[
        "drafts"
    ]  # co-instructor
    assert {n["id"] for n in nodes(listing(api, drafts, admin[1]))} == catalog["drafts"]
    stranger = verified(Role.EDUCATOR)
    assert listing(api, drafts, stranger[1])["totalCount"] == 0


def test_filters(api, catalog, educator, other_educator):
    base = {"category": catalog["category"]}
    assert {n["difficulty"] for n in nodes(listing(api, {**base, "difficulty": "ADVANCED"}))} == {
        "ADVANCED"
    }
    assert listing(api, {**base, "difficulty": "ADVANCED"})["totalCount"] == 8
    free = nodes(listing(api, {**base, "isFree": True}))
    assert len(free) == 6 and all(n["isFree"] and n["priceAmount"] == 0 for n in free)
    paid = nodes(listing(api, {**base, "isFree": False}))
    assert len(paid) == 18 and all(n["priceAmount"] > 0 for n in paid)
    ranged = nodes(listing(api, {**base, "minPrice": 1000, "maxPrice": 2000}))
    assert len(ranged) == 12 and all(1000 <= n["priceAmount"] <= 2000 for n in ranged)
    assert api.error_codes(CATALOG, {"f": {**base, "minPrice": 5, "maxPrice": 1}}) == [
        "INVALID_PRICE_RANGE"
    ]
    assert listing(api, {**base, "tag": "LEVEL-1"})["totalCount"] == 8
    assert listing(api, {**base, "language": "en"})["totalCount"] == 24
    assert listing(api, {**base, "language": "fr"})["totalCount"] == 0
    assert listing(api, {**base, "currency": "eur"})["totalCount"] == 0
    assert listing(api, {**base, "instructorId": str(educator[0].id)})["totalCount"] == 24
    assert listing(api, {**base, "instructorId": str(other_educator[0].id)})["totalCount"] == 0
    assert (
        listing(api, {"search": f"{catalog['category']} COURSE 1"})["totalCount"] == 11
    )  # 1, 10-19
    assert listing(api, {"search": "100%_sure"})["totalCount"] == 0  # LIKE wildcards are literal


def test_sorts(api, catalog):
    base = {"category": catalog["category"]}

    def values(sort: str, field: str) -> list:
        return [n[field] for n in nodes(listing(api, {**base, "sort": sort}))]

    popularity = values("POPULARITY", "enrollmentCount")
    assert popularity == sorted(popularity, reverse=True) and len(set(popularity)) > 1
    cheap_first = values("PRICE_LOW_TO_HIGH", "priceAmount")
    assert cheap_first == sorted(cheap_first) and cheap_first[0] == 0
    assert values("PRICE_HIGH_TO_LOW", "priceAmount") == sorted(cheap_first, reverse=True)
    ratings = [r or 0 for r in values("RATING", "averageRating")]
    assert ratings == sorted(ratings, reverse=True)
    newest = values("NEWEST", "title")
    assert newest[0].endswith("course 0")  # seeded newest first


@pytest.mark.parametrize(
    "sort", ["NEWEST", "POPULARITY", "RATING", "PRICE_LOW_TO_HIGH", "PRICE_HIGH_TO_LOW"]
)
def test_paging_through_every_sort_visits_each_course_once(api, catalog, sort):
    filter = {"category": catalog["category"], "sort": sort}
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = listing(api, filter, None, first=5, after=after)
        assert page["totalCount"] == 24
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [n["id"] for n in nodes(page)]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert pages == 5 and len(seen) == 24 and set(seen) == catalog["published"]
    assert seen == [n["id"] for n in nodes(listing(api, filter))]  # same order as one big page


def test_page_size_is_bounded(api, catalog):
    for first in (100_000, 101, 0, -1):
        body = api.execute(CATALOG, {"f": {}, "p": {"first": first}})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID_PAGE_SIZE"
        assert error["extensions"]["maxFirst"] == 100
    default = listing(api, {"category": catalog["category"]}, None, after=None)
    assert len(default["edges"]) == 20 and default["pageInfo"]["hasNextPage"] is True


def test_garbage_and_foreign_cursors_are_refused(api, catalog, educator):
    base = {"category": catalog["category"]}
    page = listing(api, base, None, first=3)
    cursor = page["pageInfo"]["endCursor"]
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][1] = str(uuid.uuid4())
    forged = (
        base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        + "."
        + signature
    )
    garbage = [
        "garbage",
        "",
        "a.b",
        "%%%.%%%",
        "x" * 5000,
        cursor[:-2],
        forged,
        "eyJ2IjoxfQ.AAAA",
        cursor + ".",
    ]
    for bad in garbage:
        assert api.error_codes(CATALOG, {"f": base, "p": {"first": 3, "after": bad}}) == [
            "INVALID_CURSOR"
        ], bad

    # A real cursor, but from another query: other filter, other sort, or the other list.
    for other in ({**base, "isFree": False}, {**base, "sort": "POPULARITY"}, {}):
        assert api.error_codes(CATALOG, {"f": other, "p": {"first": 3, "after": cursor}}) == [
            "INVALID_CURSOR"
        ]
    mine = api.data(MINE, {"f": {}, "p": {"first": 1}}, educator[1])["myCourses"]["pageInfo"][
        "endCursor"
    ]
    assert api.error_codes(CATALOG, {"f": {}, "p": {"first": 1, "after": mine}}) == [
        "INVALID_CURSOR"
    ]
    assert api.error_codes(MINE, {"f": {}, "p": {"first": 1, "after": cursor}}, educator[1]) == [
        "INVALID_CURSOR"
    ]
    # The same filter spelled with its defaults is the same query.
    explicit = {**base, "sort": "NEWEST"}
    assert len(nodes(listing(api, explicit, None, first=3, after=cursor))) == 3


def test_my_courses_lists_every_status_of_the_educators_courses(
    api, catalog, educator, other_educator, student
):
    mine = api.data(
        MINE, {"f": {"category": catalog["category"]}, "p": {"first": 100}}, educator[1]
    )["myCourses"]
    assert {n["id"] for n in mine["nodes"]} == catalog["published"] | catalog["drafts"]
    assert mine["totalCount"] == 27
    drafts = api.data(
        MINE, {"f": {"status": "DRAFT", "category": catalog["category"]}}, other_educator[1]
    )
    assert {n["id"] for n in drafts["myCourses"]["nodes"]} == catalog["drafts"]
    assert api.error_codes(MINE, {}, student[1]) == ["FORBIDDEN"]
    assert api.error_codes(MINE, {}) == ["UNAUTHENTICATED"]


def test_total_count_is_only_computed_when_asked(api, catalog):
    query = (
        "query($f: CourseFilter) { courses(filter: $f, pagination: {first: 2}) { nodes { id } } }"
    )
    assert len(api.data(query, {"f": {"category": catalog["category"]}})["courses"]["nodes"]) == 2
    fragment = """query($f: CourseFilter) { courses(filter: $f) { ...Counted } }
      fragment Counted on CourseConnection { totalCount }"""
    assert (
        api.data(fragment, {"f": {"category": catalog["category"]}})["courses"]["totalCount"] == 24
    )
