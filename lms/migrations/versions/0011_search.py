"""search: course and lesson documents, word table, pending reindexes, query log, trending

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-06 12:40:00.000000

On PostgreSQL the documents are weighted tsvectors with GIN indexes, and `unaccent` and
`pg_trgm` are installed (a superuser or the database owner on PostgreSQL 13+ may create
them; both are trusted extensions). SQLite keeps its FTS5 tables out of the migrations
(see `lms/search/fts.py`).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lms.models

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None

Document = postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite")


def _trigram(name: str, table: str, column: str) -> None:
    op.create_index(
        name,
        table,
        [column],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    )


# Text search configurations that unaccent words before stemming (see lms/search/text.py).
STEMMERS = ("english", "french", "german", "spanish", "italian", "portuguese", "dutch")
STEMMERS += ("swedish", "russian")


def _text_configs() -> None:
    for name in (*STEMMERS, "simple"):
        dictionary = f"{name}_stem" if name != "simple" else "simple"
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS lyceum_{name}")
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION lyceum_{name} (COPY = pg_catalog.{name})")
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION lyceum_{name} ALTER MAPPING FOR "
            f"asciiword, asciihword, hword_asciipart, word, hword, hword_part "
            f"WITH unaccent, {dictionary}"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        _text_configs()
    op.create_table(
        "search_courses",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_norm", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("difficulty", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text_config", sa.String(length=32), nullable=False),
        sa.Column("price_amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rating_average", sa.Double(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("enrollment_count", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("lesson_count", sa.Integer(), nullable=False),
        sa.Column("published_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("document", Document, nullable=True),
        sa.Column("title_document", Document, nullable=True),
        sa.Column("indexed_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_search_courses")),
    )
    for column in (
        "category",
        "difficulty",
        "language",
        "price_amount",
        "rating_average",
        "enrollment_count",
        "duration_seconds",
        "published_at",
    ):
        op.create_index(op.f(f"ix_search_courses_{column}"), "search_courses", [column])
    op.create_index(
        "ix_search_courses_document", "search_courses", ["document"], postgresql_using="gin"
    )
    op.create_index(
        "ix_search_courses_title_document",
        "search_courses",
        ["title_document"],
        postgresql_using="gin",
    )
    _trigram("ix_search_courses_title_norm_trgm", "search_courses", "title_norm")

    op.create_table(
        "search_lessons",
        sa.Column("lesson_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("module_id", sa.Uuid(), nullable=False),
        sa.Column("course_title", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("is_free_preview", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text_config", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title_document", Document, nullable=True),
        sa.Column("body_document", Document, nullable=True),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_search_lessons")),
    )
    op.create_index(op.f("ix_search_lessons_course_id"), "search_lessons", ["course_id"])
    op.create_index(
        "ix_search_lessons_title_document",
        "search_lessons",
        ["title_document"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_search_lessons_body_document",
        "search_lessons",
        ["body_document"],
        postgresql_using="gin",
    )

    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_search_terms")),
    )
    _trigram("ix_search_terms_term_trgm", "search_terms", "term")

    op.create_table(
        "search_pending",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_search_pending")),
    )
    op.create_index(op.f("ix_search_pending_requested_at"), "search_pending", ["requested_at"])

    op.create_table(
        "search_query_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("searcher", sa.String(length=32), nullable=True),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_query_log")),
    )
    op.create_index(op.f("ix_search_query_log_created_at"), "search_query_log", ["created_at"])

    op.create_table(
        "search_trending",
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("searchers", sa.Integer(), nullable=False),
        sa.Column("rolled_up_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query", name=op.f("pk_search_trending")),
    )
    op.create_index(op.f("ix_search_trending_searchers"), "search_trending", ["searchers"])
    _trigram("ix_search_trending_query_trgm", "search_trending", "query")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in (*STEMMERS, "simple"):
            op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS lyceum_{name}")
    for table in (
        "search_trending",
        "search_query_log",
        "search_pending",
        "search_terms",
        "search_lessons",
        "search_courses",
    ):
        op.drop_table(table)
