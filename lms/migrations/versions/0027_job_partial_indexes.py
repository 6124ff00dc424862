"""jobs: partial indexes, so a status change rewrites fewer index entries

A status change is never a HOT update (status is indexed), so PostgreSQL adds an entry to
every index of `jobs` for the new row version. The indexes only some rows need become
partial: unpublished/waiting jobs (the relay's), leased jobs (the reaper's), jobs with a
parent, a requester or a subject. A finished job no longer sits in them.

Revision ID: 0027
Revises: 0016
Create Date: 2026-12-06 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0016"
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_jobs_queued", ["published_at"], "status = 'QUEUED'"),
    ("ix_jobs_subject", ["subject_type", "subject_id"], "subject_id IS NOT NULL"),
    ("ix_jobs_lease", ["lease_expires_at"], "lease_expires_at IS NOT NULL"),
    ("ix_jobs_parent_id", ["parent_id"], "parent_id IS NOT NULL"),
    ("ix_jobs_requested_by_id", ["requested_by_id"], "requested_by_id IS NOT NULL"),
)
_FULL = (
    ("ix_jobs_unpublished", ["published_at", "status"]),
    ("ix_jobs_subject", ["subject_type", "subject_id"]),
    ("ix_jobs_lease", ["status", "lease_expires_at"]),
    ("ix_jobs_parent_id", ["parent_id"]),
    ("ix_jobs_requested_by_id", ["requested_by_id"]),
)


def upgrade() -> None:
    for name, _columns in _FULL:
        op.drop_index(name, table_name="jobs")
    for name, columns, where in _PARTIAL:
        op.create_index(
            name,
            "jobs",
            columns,
            unique=False,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name, _columns, _where in _PARTIAL:
        op.drop_index(name, table_name="jobs")
    for name, columns in _FULL:
        op.create_index(name, "jobs", columns, unique=False)
