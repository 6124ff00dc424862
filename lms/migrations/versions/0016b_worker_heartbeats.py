"""worker heartbeats: the last time a worker process itself reported in

Revision ID: 0016b
Revises: 0004 (admin)
Create Date: 2026-12-06 15:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0016b"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "admin_workers",
        sa.Column("heartbeat_at", lms.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("admin_workers", "heartbeat_at")
