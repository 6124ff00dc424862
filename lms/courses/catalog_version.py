"""The catalog version: one database row, bumped by every course, module or lesson write.

Whole responses of anonymous catalog queries are cached per process (`web/response_cache.py`)
under the version current when they were computed. Every write in `lms.courses.service`
bumps the version in the same transaction as the change, so:

- the bump becomes visible exactly when the change does (commit), in every API process,
  with or without Redis: a response cached under an older version is never served again;
- a reader that read the old version while the write was committing may cache a mixed
  response, but only under the old version, which nobody looks up any more.

Reading it is one primary-key lookup per cacheable request. Bumping takes the row's lock
until commit, which serializes catalog writes; they are rare (educators editing), so that
is the price of being correct across processes without another moving part.

Counters owned by other modules (enrollment count, ratings), the cover-resize job and
instructors' display names do not bump it: the cache's TTL bounds their staleness.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from lms.models import Base

ROW_ID = 1


class CatalogVersion(Base):
    """A single row (id 1); `version` only ever grows."""

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


_SELECT = select(CatalogVersion.version).where(CatalogVersion.id == ROW_ID)


def bump_catalog_version(session: Session) -> None:
    """Mark the public catalog changed, in the caller's transaction (visible at its commit)."""
    result = session.execute(
        update(CatalogVersion)
        .where(CatalogVersion.id == ROW_ID)
        .values(version=CatalogVersion.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # a database built without the migration's seed row
        session.add(CatalogVersion(id=ROW_ID, version=1))


def current_version(session: Session) -> int:
    return session.scalar(_SELECT) or 0


async def read_catalog_version(session: AsyncSession) -> int:
    """The committed version, read in the caller's (short, read-only) session."""
    return (await session.scalar(_SELECT)) or 0
