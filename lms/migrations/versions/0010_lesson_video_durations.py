"""lesson durations follow their attached READY video (data only)

Lessons whose video was attached with updateLesson kept durationSeconds 0; from now on the
services keep them in step, and this fixes the rows written before.

Revision ID: 0010
Revises: 0007 (catalog version); needs 0005 (content)
Create Date: 2026-12-06 12:40:00.000000
"""

from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = "0005"


def upgrade() -> None:
    op.execute(
        """
        UPDATE lessons SET duration_seconds = (
            SELECT CAST(ROUND(v.duration_seconds) AS INTEGER)
            FROM video_assets v WHERE v.id = lessons.video_asset_id
        )
        WHERE video_asset_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM video_assets v
            WHERE v.id = lessons.video_asset_id
              AND v.status = 'READY' AND v.duration_seconds > 0
        )
        """
    )


def downgrade() -> None:
    pass  # data only: the durations it replaced were wrong
