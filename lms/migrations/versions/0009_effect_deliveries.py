"""effect deliveries: side effects of jobs (emails, …) by idempotency key, sent at most once

Revision ID: 0009
Revises: 0007 (to be rebased onto the jobs-core revision 0008)
Create Date: 2026-12-06 12:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "effect_deliveries",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("effect", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=500), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_effect_deliveries_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_effect_deliveries")),
    )
    with op.batch_alter_table("effect_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_effect_deliveries_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("effect_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_effect_deliveries_job_id"))
    op.drop_table("effect_deliveries")
