"""Estimated counts are kept per query while the index is unchanged: an index job that
adds a match is seen by the very next search, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

import uuid

from lms.search import indexing, service
from lms.search.settings import search_settings
from lms.security import ANONYMOUS
from tests.search.catalog import Spec, add_course


def test_a_newly_indexed_match_is_counted_at_once_though_estimates_are_kept(catalog, monkeypatch):
    word = "kept" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("LMS_SEARCH_EXACT_COUNT_UP_TO", "1")
    search_settings.cache_clear()

    def add(title: str, difficulty: str) -> None:
        with catalog.session() as session:
            course_id = add_course(
                session, catalog.owner_id, Spec(title, f"About {word}.", "art", (), difficulty)
            ).id
        with catalog.session() as session:
            indexing.index_course(session, course_id)

    def beginners():
        with catalog.session() as session:
            return service.search_courses(
                session,
                ANONYMOUS,
                query=word,
                filters={"difficulty": ["BEGINNER"]},
                include_facets=True,
                sort="RATING",
                pagination={"page_size": 1},
            )

    try:
        add("Drawing hands", "BEGINNER")
        add("Drawing faces", "ADVANCED")
        # One beginner match (exact); the level facet ignores its own filter: 2 matches,
        # past the window of 1, an estimate that is kept.
        first = beginners()
        assert (first.total_count, first.total_count_is_exact) == (1, True)
        assert not first.facet_counts_are_exact
        assert (beginners().total_count, beginners().total_count_is_exact) == (1, True)

        add("Drawing trees", "BEGINNER")
        after = beginners()  # two beginner matches now: past the window, estimated
        assert after.total_count >= 2 and not after.total_count_is_exact
    finally:
        search_settings.cache_clear()
