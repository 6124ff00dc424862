"""assessments: regrades of corrected questions, run as jobs, with their stored reports

Revision ID: 0025
Revises: 0017
Create Date: 2026-12-06 18:10:00
"""

from alembic import op
import sqlalchemy as sa
import lms.models


revision = "0025"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_question_regrades",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["assessment_questions.id"],
            name=op.f("fk_assessment_question_regrades_question_id_assessment_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_assessment_question_regrades_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_question_regrades")),
    )
    op.create_index(
        op.f("ix_assessment_question_regrades_question_id"),
        "assessment_question_regrades",
        ["question_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_assessment_question_regrades_question_id"),
        table_name="assessment_question_regrades",
    )
    op.drop_table("assessment_question_regrades")
