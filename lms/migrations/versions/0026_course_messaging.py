"""communication: a course's own rule for students writing to classmates

Revision ID: 0026
Revises: 0018
Create Date: 2026-12-06 18:35:00
"""

from alembic import op
import sqlalchemy as sa
import lms.models


revision = "0026"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "communication_course_settings",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("students_may_message_classmates", sa.Boolean(), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_communication_course_settings_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_communication_course_settings_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_communication_course_settings")),
    )


def downgrade() -> None:
    op.drop_table("communication_course_settings")
