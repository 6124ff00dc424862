"""uploads: resumable multipart uploads of video sources

Revision ID: 0014
Revises: 0005 (content); needs 0002 (users)
Create Date: 2026-12-06 13:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lms.models

revision = "0014"
down_revision = "0005"
branch_labels = None
depends_on = "0002"


def upgrade() -> None:
    op.create_table(
        "multipart_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("video_asset_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("storage_upload_id", sa.String(length=1024), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("part_bytes", sa.BigInteger(), nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "COMPLETED",
                "ABORTED",
                name="multipartstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_multipart_uploads_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_asset_id"],
            ["video_assets.id"],
            name=op.f("fk_multipart_uploads_video_asset_id_video_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_multipart_uploads")),
    )
    with op.batch_alter_table("multipart_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_multipart_uploads_owner_id"), ["owner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_multipart_uploads_video_asset_id"), ["video_asset_id"], unique=False
        )
        batch_op.create_index(
            "ix_multipart_uploads_status_expires", ["status", "expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("multipart_uploads")
