"""search: an index on `search_courses.indexed_at`, so the newest indexed document (the
version cached search counts are checked against, and `searchHealth`'s last indexing) is
one index probe rather than a scan of every document

Revision ID: 0037
Revises: 0011
Create Date: 2026-12-07 00:20:00.000000
"""

from alembic import op

revision = "0037"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_courses", schema=None) as batch_op:
        batch_op.create_index("ix_search_courses_indexed_at", ["indexed_at"])


def downgrade() -> None:
    with op.batch_alter_table("search_courses", schema=None) as batch_op:
        batch_op.drop_index("ix_search_courses_indexed_at")
