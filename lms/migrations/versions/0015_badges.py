"""certificates get a place in the Open Badges revocation status list

Revision ID: 0015
Revises: 0006 (enrollments)
Create Date: 2026-12-06 13:45:00.000000
"""

import secrets

import sqlalchemy as sa
from alembic import op

STATUS_LIST_BITS = 131_072  # certificates.badges.STATUS_LIST_BITS, frozen for this revision


revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("status_list_index", sa.Integer(), nullable=True))
    op.create_index(
        "uq_certificates_status_list_index", "certificates", ["status_list_index"], unique=True
    )
    # Certificates issued before get their random bit now, so they have a credential too.
    table = sa.table(
        "certificates",
        sa.column("id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("status_list_index", sa.Integer()),
    )
    bind = op.get_bind()
    issued = bind.execute(sa.select(table.c.id).where(table.c.version > 0)).scalars().all()
    indexes = secrets.SystemRandom().sample(
        range(STATUS_LIST_BITS), min(len(issued), STATUS_LIST_BITS // 2)
    )
    for certificate_id, index in zip(issued, indexes, strict=False):
        bind.execute(
            table.update().where(table.c.id == certificate_id).values(status_list_index=index)
        )


def downgrade() -> None:
    op.drop_index("uq_certificates_status_list_index", table_name="certificates")
    op.drop_column("certificates", "status_list_index")
