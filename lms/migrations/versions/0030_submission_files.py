"""content: a file asset's purpose (course resource, or a student's upload for their own work)

Revision ID: 0030
Revises: 0014
Create Date: 2026-12-06 21:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0030"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("file_assets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "purpose",
                sa.Enum("RESOURCE", "SUBMISSION", name="filepurpose", native_enum=False, length=16),
                server_default="RESOURCE",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("file_assets", schema=None) as batch_op:
        batch_op.drop_column("purpose")
