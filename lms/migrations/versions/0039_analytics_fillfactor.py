"""analytics: per-student totals and who-watched-what rows keep a fifth of each page free,
so an incremental rollup's updates are HOT (the new row version on the same page, no index
entry): every run updates thousands of rows scattered over the whole table

Pages written from now on (the next full rollup rewrites them all) get the free space.

Revision ID: 0039
Revises: 0029
Create Date: 2026-12-07 17:50:00.000000
"""

from alembic import op

revision = "0039"
down_revision = "0029"
branch_labels = None
depends_on = None

TABLES = ("analytics_course_students", "analytics_lesson_watch")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
