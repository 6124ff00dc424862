"""search: the first relevance tier (`search_courses.title_document`) holds the title only,
no longer tags and category: a category name ("marketing") put a fifteenth of the catalog
in the tier, every row of it read and ranked for a first page. `document` is unchanged
(title A, tags and category B, description C, outline D), so nothing else moves.

On PostgreSQL the title documents are rewritten here (one UPDATE; on a large catalog plan
for the time and a VACUUM afterwards, or run `python -m lms.search rebuild` instead). SQLite
keeps its documents in FTS5 tables and has no tier: nothing to do.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 00:30:00.000000
"""

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE search_courses SET title_document = "
            "setweight(to_tsvector(text_config::regconfig, title), 'A')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE search_courses SET title_document = "
            "setweight(to_tsvector(text_config::regconfig, title), 'A') || "
            "setweight(to_tsvector(text_config::regconfig, tags || ' ' || "
            "coalesce(category, '')), 'B')"
        )
