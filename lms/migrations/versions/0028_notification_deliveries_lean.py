"""notifications: deliveries lose the user foreign key and index; the sweep's index is partial

A delivery belongs to its notification, whose foreign key to users already cascades; no
query finds deliveries by user. Checking the copy per row was about a third of the cost of
storing a fan-out's deliveries. The release sweep reads only rows waiting for quiet hours
or a digest, so its index holds only those.

Revision ID: 0028
Revises: 0012
Create Date: 2026-12-06 21:05:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0028"
down_revision = "0012"
branch_labels = None
depends_on = None

_WAITING = "status = 'QUEUED' AND job_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_user")
        batch_op.drop_index("ix_notification_deliveries_due")
        batch_op.drop_constraint("fk_notification_deliveries_user_id_users", type_="foreignkey")
        batch_op.create_index(
            "ix_notification_deliveries_due",
            ["not_before"],
            unique=False,
            postgresql_where=sa.text(_WAITING),
            sqlite_where=sa.text(_WAITING),
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_due")
        batch_op.create_index(
            "ix_notification_deliveries_due", ["status", "not_before"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_notification_deliveries_user_id_users",
            "users",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_notification_deliveries_user", ["user_id"], unique=False)
