"""analytics: learning events (partitioned by month on PostgreSQL), daily rollups, badges

Revision ID: 0019
Revises: 0007 (the lead re-chains it at merge)
Create Date: 2026-12-06 15:30:00.000000
"""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0019"
down_revision = "0007"
branch_labels = None
depends_on = None

MONTHS_BACK, MONTHS_AHEAD = 24, 24  # lms.analytics.partitions adds later months
PARTITIONS = "learning_event_partitions"  # lms.analytics.partitions.SCHEMA


def _month(start: date, shift: int) -> date:
    index = start.year * 12 + start.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def upgrade() -> None:
    op.create_table(
        "analytics_badges",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("badge", sa.String(length=40), nullable=False),
        sa.Column("awarded_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "badge", name=op.f("pk_analytics_badges")),
    )
    op.create_table(
        "analytics_course_daily",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("enrollments", sa.Integer(), nullable=False),
        sa.Column("active_students", sa.Integer(), nullable=False),
        sa.Column("lesson_completions", sa.Integer(), nullable=False),
        sa.Column("completions", sa.Integer(), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.Column("forum_posts", sa.Integer(), nullable=False),
        sa.Column("graded", sa.Integer(), nullable=False),
        sa.Column("time_seconds", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "day", name=op.f("pk_analytics_course_daily")),
    )
    op.create_table(
        "analytics_course_students",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("time_seconds", sa.BigInteger(), nullable=False),
        sa.Column("lesson_completions", sa.Integer(), nullable=False),
        sa.Column("graded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Double(), nullable=False),
        sa.Column("perfect", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("active_days", sa.Integer(), nullable=False),
        sa.Column("last_seen", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "user_id", name=op.f("pk_analytics_course_students")),
    )
    with op.batch_alter_table("analytics_course_students", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_course_students_user_id", ["user_id"], unique=False)
    op.create_table(
        "analytics_item_daily",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "day", name=op.f("pk_analytics_item_daily")),
    )
    op.create_table(
        "analytics_lesson_daily",
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("completions", sa.Integer(), nullable=False),
        sa.Column("time_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lesson_id", "day", name=op.f("pk_analytics_lesson_daily")),
    )
    with op.batch_alter_table("analytics_lesson_daily", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_lesson_daily_course_id", ["course_id"], unique=False)
    op.create_table(
        "analytics_lesson_segments",
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lesson_id", "segment", name=op.f("pk_analytics_lesson_segments")),
    )
    op.create_table(
        "analytics_item_responses",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "item_id", "user_id", "day", name=op.f("pk_analytics_item_responses")
        ),
    )
    with op.batch_alter_table("analytics_item_responses", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_item_responses_course_id", ["course_id"], unique=False)
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
    op.create_table(
        "analytics_revenue_daily",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "course_id", "day", "currency", name=op.f("pk_analytics_revenue_daily")
        ),
    )
    op.create_table(
        "analytics_student_daily",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("time_seconds", sa.BigInteger(), nullable=False),
        sa.Column("lesson_completions", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("graded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Double(), nullable=False),
        sa.Column("perfect", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("forum_posts", sa.Integer(), nullable=False),
        sa.Column("last_seen", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "course_id", "day", name=op.f("pk_analytics_student_daily")
        ),
    )
    with op.batch_alter_table("analytics_student_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_student_daily_course_id_day", ["course_id", "day"], unique=False
        )
    op.create_table(
        "analytics_watermarks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("stored_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_watermarks")),
    )
    op.create_table(
        "learning_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("timestamp", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("verb", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("progress", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", "timestamp", name=op.f("pk_learning_events")),
        postgresql_partition_by='RANGE ("timestamp")',
    )
    with op.batch_alter_table("learning_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_events_actor_id_timestamp", ["actor_id", "timestamp"], unique=False
        )
        batch_op.create_index(
            "ix_learning_events_course_id_timestamp", ["course_id", "timestamp"], unique=False
        )
        batch_op.create_index("ix_learning_events_stored_at", ["stored_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Partitions live in their own schema, out of the way of the models' tables. Rows
        # outside every month land in the default partition rather than failing.
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITIONS}")
        op.execute(
            f"CREATE TABLE {PARTITIONS}.learning_events_default "
            "PARTITION OF learning_events DEFAULT"
        )
        today = datetime.now(UTC).date().replace(day=1)
        for shift in range(-MONTHS_BACK, MONTHS_AHEAD + 1):
            start, end = _month(today, shift), _month(today, shift + 1)
            op.execute(
                f"CREATE TABLE {PARTITIONS}.learning_events_{start:%Y%m} "
                "PARTITION OF learning_events "
                f"FOR VALUES FROM ('{start} 00:00+00') TO ('{end} 00:00+00')"
            )


def downgrade() -> None:
    with op.batch_alter_table("learning_events", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_events_stored_at")
        batch_op.drop_index("ix_learning_events_course_id_timestamp")
        batch_op.drop_index("ix_learning_events_actor_id_timestamp")
    op.drop_table("learning_events")
    op.drop_table("analytics_watermarks")
    with op.batch_alter_table("analytics_student_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_student_daily_course_id_day")
    op.drop_table("analytics_student_daily")
    op.drop_table("analytics_revenue_daily")
    op.drop_table("analytics_lesson_segments")
    op.drop_table("analytics_lesson_viewers")
    with op.batch_alter_table("analytics_item_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_item_responses_course_id")
    op.drop_table("analytics_item_responses")
    with op.batch_alter_table("analytics_lesson_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_lesson_daily_course_id")
    op.drop_table("analytics_lesson_daily")
    op.drop_table("analytics_item_daily")
    with op.batch_alter_table("analytics_course_students", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_course_students_user_id")
    op.drop_table("analytics_course_students")
    op.drop_table("analytics_course_daily")
    op.drop_table("analytics_badges")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA IF EXISTS {PARTITIONS} CASCADE")
