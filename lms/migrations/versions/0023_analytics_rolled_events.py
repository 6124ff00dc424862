"""analytics: the ledger of events already folded into the rollups (incremental deltas);
student days lose their (course, day) index, which no query reads any more

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-06 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_rolled_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stored_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_rolled_events")),
    )
    # Every rollup run writes student days; courseAnalytics counts active students from
    # the per-student totals now.
    op.drop_index("ix_analytics_student_daily_course_id_day", "analytics_student_daily")


def downgrade() -> None:
    op.create_index(
        "ix_analytics_student_daily_course_id_day", "analytics_student_daily", ["course_id", "day"]
    )
    op.drop_table("analytics_rolled_events")
