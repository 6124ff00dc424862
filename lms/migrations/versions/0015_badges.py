"""certificates get a place in the Open Badges revocation status list

Revision ID: 0015
Revises: 0006 (enrollments)
Create Date: 2026-12-06 13:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("status_list_index", sa.Integer(), nullable=True))
    op.create_index(
        "uq_certificates_status_list_index", "certificates", ["status_list_index"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_certificates_status_list_index", table_name="certificates")
    op.drop_column("certificates", "status_list_index")
