"""job leases and publish claims: a running attempt's lease, a publisher's claim

Revision ID: 0008
Revises: 0001 (foundation: the jobs table)
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("lease_expires_at", lms.models.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "jobs",
        sa.Column("publish_claimed_until", lms.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_jobs_lease", "jobs", ["status", "lease_expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_lease", table_name="jobs")
    op.drop_column("jobs", "publish_claimed_until")
    op.drop_column("jobs", "lease_expires_at")
