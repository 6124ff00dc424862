"""job trace context: the W3C traceparent of the span that enqueued a job

Revision ID: 0016
Revises: 0009 (jobs: effect deliveries)
Create Date: 2026-12-06 13:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "traceparent")
