"""The five search operations through the API on the embedded default (SQLite FTS5 and the
filesystem broker), on a catalog indexed by the real index code."""

from __future__ import annotations

import uuid

import pytest

from lms.config import load_settings
from lms.db import session_scope
from lms.migrate import upgrade
from lms.search.service import log_query, roll_up_trending
from lms.security import Viewer
from lms.users.models import Role
from tests.search.catalog import MARKER
from tests.search.conftest import build_catalog
from tests.support import GraphQLClient, start_api

MARKER_USER = uuid.uuid4()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-embedded")
    env = {
        "LMS_DATABASE_URL": f"sqlite:///{folder / 'lms.db'}",
        "LMS_BROKER_URL": f"filesystem://{folder / 'broker'}",
        "LMS_VAR_DIR": str(folder),
        # Fewer than the catalog's 5 matches: totals past it are estimates.
        "LMS_SEARCH_EXACT_COUNT_UP_TO": "3",
    }
    settings = load_settings(
        database_url=env["LMS_DATABASE_URL"], broker_url=env["LMS_BROKER_URL"], var_dir=folder
    )
    upgrade(settings)
    catalog = build_catalog(settings)
    with session_scope(settings) as session:
        for user in (Viewer(catalog.owner_id, Role.EDUCATOR), Viewer(None, Role.STUDENT)):
            log_query(session, user, query="kubernetes", results=1)
        log_query(session, Viewer(MARKER_USER, Role.STUDENT), query="kubernetes", results=1)
        roll_up_trending(session)
    process, url = start_api(env)
    client = GraphQLClient(url)
    yield client
    client.close()
    process.stop()


def test_all_five_operations_on_sqlite(embedded):
    data = embedded.data(
        """query($m: String!) {
          searchCourses(query: $m, includeFacets: true, sort: RATING,
                        pagination: {pageSize: 2}) {
            totalCount totalCountIsExact hasNextPage hits { title isFree highlights { title } }
            facets { name buckets { value count } } facetCountsAreExact }
          beginners: searchCourses(query: $m, filters: {difficulty: [BEGINNER]},
                                   pagination: {pageSize: 2}) {
            totalCount totalCountIsExact }
          typo: searchCourses(query: "kubernetse ") { correctedQuery hits { title } }
          searchLessons(query: "comma separated") {
            hits { title viewerCanRead highlights { text } } }
          autocomplete(query: "kube") { text kind }
          trendingSearches { query searches searchers }
          searchHealth { backend courseDocuments pendingCourses }
        }""",
        {"m": MARKER},
    )
    courses = data["searchCourses"]
    # Past the window the total is an estimate (on SQLite a count of the matches)...
    assert courses["totalCount"] == 5 and courses["hasNextPage"]
    assert not courses["totalCountIsExact"] and not courses["facetCountsAreExact"]
    # ...and within it exact, even when more match before filtering.
    assert data["beginners"] == {"totalCount": 3, "totalCountIsExact": True}
    assert [hit["title"] for hit in courses["hits"]] == [
        "Cuisine française : les bases",
        "Python for Data Analysis",
    ]
    assert {facet["name"] for facet in courses["facets"]} == {
        "category",
        "difficulty",
        "price",
        "rating",
        "language",
        "duration",
    }
    assert data["typo"] == {
        "correctedQuery": "kubernetes",
        "hits": [{"title": "Advanced Kubernetes Operations"}],
    }
    lesson = data["searchLessons"]["hits"][0]
    assert lesson["title"] == "Loading CSV files" and lesson["viewerCanRead"]
    assert "<mark>comma</mark>" in lesson["highlights"]["text"]
    assert data["autocomplete"] == [
        {"text": "kubernetes", "kind": "QUERY"},
        {"text": "Advanced Kubernetes Operations", "kind": "COURSE"},
    ]
    assert data["trendingSearches"] == [{"query": "kubernetes", "searches": 3, "searchers": 2}]
    assert data["searchHealth"] == {
        "backend": "SQLITE_FTS5",
        "courseDocuments": 5,
        "pendingCourses": 0,
    }
