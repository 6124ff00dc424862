"""analytics: who watched which video segments as one row per (lesson, viewer) with the
segments as ranges, instead of one row per (lesson, segment, viewer); drop-off counts and
quiz item days indexed by course (courseAnalytics reads them by course)

The rollups are derived data: the watermark's run count goes back to 0, so the next
scheduled run is a full one that fills the new table.

Revision ID: 0029
Revises: 0023
Create Date: 2026-12-06 21:10:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0029"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_lesson_watch",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column(
            "segments",
            sa.JSON().with_variant(postgresql.INT4MULTIRANGE(), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", "lesson_id", name=op.f("pk_analytics_lesson_watch")),
    )
    op.drop_table("analytics_lesson_viewers")
    with op.batch_alter_table("analytics_lesson_segments", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_lesson_segments_course_id", ["course_id"])
    with op.batch_alter_table("analytics_item_daily", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_item_daily_course_id", ["course_id"])
    op.execute("UPDATE analytics_watermarks SET runs = 0")


def downgrade() -> None:
    with op.batch_alter_table("analytics_item_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_item_daily_course_id")
    with op.batch_alter_table("analytics_lesson_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_lesson_segments_course_id")
    op.create_table(
        "analytics_lesson_viewers",
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint(
            "lesson_id", "segment", "user_id", name=op.f("pk_analytics_lesson_viewers")
        ),
    )
    op.drop_table("analytics_lesson_watch")
    op.execute("UPDATE analytics_watermarks SET runs = 0")
