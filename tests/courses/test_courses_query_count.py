"""The catalog page costs the same few SQL statements for 5 courses as for 50 (no N+1).

Statements are counted with a `before_cursor_execute` listener, so this runs in-process:
the same executable schema, resolvers, dataloaders and per-request `Context` that
`POST /graphql` uses (`web.graphql_http`), on an engine of this test's own, against the
test PostgreSQL database. Only the HTTP framing is left out.
"""

from __future__ import annotations

import uuid

import pytest
from ariadne import graphql
from sqlalchemy import event

from lms.config import get_settings
from lms.db import build_async_engine, make_async_sessionmaker
from lms.security import ANONYMOUS, Viewer
from lms.users.models import Role
from tests.courses.seed import seed_courses
from tests.http_api import running_api
from web.context import Context, Services
from web.errors import format_error
from web.events import EventHub
from web.graphql_http import cached_parser, validation_rules
from web.schema import build_schema

CATALOG_PAGE = """query($f: CourseFilter, $first: Int) {
  courses(filter: $f, pagination: {first: $first}) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id slug title priceAmount currency isFree tags averageRating enrollmentCount difficulty
    coverImage { status variants { width format storageKey } }
    instructors { userId name role }
    moduleCount lessonCount totalDurationSeconds viewerCanEdit prerequisites { id title }
    modules { id title position durationSeconds
      lessons { id title type position durationSeconds isFreePreview requiresPrevious content } }
  } } } }"""
MODULES, LESSONS = 3, 5


@pytest.fixture(scope="module")
def catalog(educator):
    category = f"count-{uuid.uuid4().hex[:8]}"
    seed_courses(educator[0].id, 50, modules=MODULES, lessons=LESSONS, category=category)
    return category


@pytest.fixture
async def services():
    settings = get_settings()
    engine = build_async_engine(settings)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_rest: statements.append(statement),
    )
    yield Services(settings, make_async_sessionmaker(engine), EventHub(settings)), statements
    await engine.dispose()


async def catalog_page(services, viewer: Viewer, category: str, first: int) -> tuple[dict, int]:
    svc, statements = services
    statements.clear()
    data = {"query": CATALOG_PAGE, "variables": {"f": {"category": category}, "first": first}}
    success, result = await graphql(
        build_schema(),
        data,
        context_value=Context(svc, viewer=viewer),
        query_parser=cached_parser,
        validation_rules=validation_rules(svc),
        error_formatter=format_error,
    )
    assert success and not result.get("errors"), result.get("errors")
    return result["data"]["courses"], len(statements)


@pytest.mark.parametrize("who", ["anonymous", "owner"])
async def test_catalog_page_statement_count_does_not_grow_with_the_page(
    services, catalog, educator, who
):
    viewer = ANONYMOUS if who == "anonymous" else Viewer(educator[0].id, Role.EDUCATOR)
    small, small_count = await catalog_page(services, viewer, catalog, 5)
    large, large_count = await catalog_page(services, viewer, catalog, 50)

    assert len(small["edges"]) == 5 and len(large["edges"]) == 50
    assert large["totalCount"] == 50
    for edge in large["edges"]:
        course = edge["node"]
        assert len(course["modules"]) == MODULES and course["lessonCount"] == MODULES * LESSONS
        assert all(len(module["lessons"]) == LESSONS for module in course["modules"])
        assert course["instructors"] == [
            {"userId": str(educator[0].id), "name": educator[0].name, "role": "OWNER"}
        ]
        assert course["viewerCanEdit"] is (who == "owner")
    # page + totalCount + one batch each: tags, prerequisites, instructors, stats, modules,
    # lessons, lesson content
    assert small_count == large_count == 9


async def test_over_http_the_page_reads_on_one_connection_with_the_same_statements(
    services, catalog
):
    """`POST /graphql` gives the request one session: the page, its count and its seven
    batches run on one pooled connection (not one checkout per batch)."""
    in_process, _ = await catalog_page(services, ANONYMOUS, catalog, 50)
    variables = {"f": {"category": catalog}, "first": 50}
    async with running_api() as api:
        over_http = (await api.data(CATALOG_PAGE, variables))["courses"]
        assert api.checkouts == 1
        assert len(api.statements) == 9, api.statements
    assert over_http == in_process
