"""The search index: one stored document per published course and per lesson, a word table
for typo tolerance, pending reindex requests (the freshness lag), and the query log.

Rows here are derived from the Courses module by index jobs (`lms.search.indexing`), so
they can always be rebuilt. On PostgreSQL `document` is a weighted `tsvector` with a GIN
index; on SQLite it stays empty and FTS5 tables (created by `lms.search.fts`) do the work.
Text columns ending in `_norm` are lowercased and unaccented in Python, so trigram indexes
need no `unaccent()` in their expression (which PostgreSQL would refuse as not immutable).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, utcnow

# A tsvector on PostgreSQL; unused (NULL) text on SQLite.
Document = TSVECTOR().with_variant(Text(), "sqlite")


def _trigram(name: str, column: str) -> Index:
    return Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})


class SearchCourse(Base):
    """A published course as search sees it; facet values are copied from the course."""

    __tablename__ = "search_courses"
    __table_args__ = (
        Index("ix_search_courses_document", "document", postgresql_using="gin"),
        Index("ix_search_courses_title_document", "title_document", postgresql_using="gin"),
        _trigram("ix_search_courses_title_norm_trgm", "title_norm"),
    )

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    title_norm: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # plain text
    tags: Mapped[str] = mapped_column(Text, default="")  # space-separated
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    difficulty: Mapped[str] = mapped_column(String(16), index=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    text_config: Mapped[str] = mapped_column(String(32))  # PostgreSQL text search config
    price_amount: Mapped[int] = mapped_column(index=True)
    currency: Mapped[str] = mapped_column(String(3))
    rating_average: Mapped[float] = mapped_column(default=0.0, index=True)
    rating_count: Mapped[int] = mapped_column(default=0)
    enrollment_count: Mapped[int] = mapped_column(default=0, index=True)
    duration_seconds: Mapped[int] = mapped_column(default=0, index=True)
    lesson_count: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    document: Mapped[str | None] = mapped_column(Document)
    # The title only: the first relevance tier, small and selective (a category name is
    # not: "marketing" names a fifteenth of the catalog, ranked among the rest by weight).
    title_document: Mapped[str | None] = mapped_column(Document)
    # Indexed: the newest is the index's version for cached counts (and searchHealth).
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SearchLesson(Base):
    """A lesson of a published course. The body is matched separately from the title,
    because only readers of the lesson (previews, enrolled students, instructors) may find
    it by its text."""

    __tablename__ = "search_lessons"
    __table_args__ = (
        Index("ix_search_lessons_title_document", "title_document", postgresql_using="gin"),
        Index("ix_search_lessons_body_document", "body_document", postgresql_using="gin"),
    )

    lesson_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(index=True)
    module_id: Mapped[uuid.UUID] = mapped_column()
    course_title: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # plain text
    type: Mapped[str] = mapped_column(String(16))
    is_free_preview: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(16))
    text_config: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(default=0)
    title_document: Mapped[str | None] = mapped_column(Document)
    body_document: Mapped[str | None] = mapped_column(Document)


class SearchTerm(Base):
    """A word of the index (normalized) and how many course documents use it: typo
    candidates. Index jobs add new words at once; `refresh_terms` recounts (and drops
    words no document uses any more) on a schedule."""

    __tablename__ = "search_terms"
    __table_args__ = (_trigram("ix_search_terms_term_trgm", "term"),)

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    documents: Mapped[int] = mapped_column(default=0)


class SearchPending(Base):
    """A course whose document is older than its last change; deleted by its index job."""

    __tablename__ = "search_pending"

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(index=True)


class SearchQueryLog(Base):
    """One search as typed (normalized). `searcher` is a salted hash, only to count distinct
    people in the trending rollup; rows are deleted after the retention window."""

    __tablename__ = "search_query_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    query: Mapped[str] = mapped_column(String(200))
    searcher: Mapped[str | None] = mapped_column(String(32))
    results: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SearchTrending(Base):
    """The rollup: popular queries of the recent window, anonymous (no searcher kept)."""

    __tablename__ = "search_trending"
    __table_args__ = (_trigram("ix_search_trending_query_trgm", "query"),)

    query: Mapped[str] = mapped_column(String(200), primary_key=True)
    searches: Mapped[int] = mapped_column(default=0)
    searchers: Mapped[int] = mapped_column(default=0, index=True)
    rolled_up_at: Mapped[datetime] = mapped_column(default=utcnow)
