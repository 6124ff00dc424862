"""Monthly partitions of `learning_events` on PostgreSQL, made ahead of time.

The migration makes two years either side of its date and a default partition; the
rollup job calls `ensure_months` so the months ahead always exist. A month whose rows
already fell into the default partition is left there (moving them is an operator's
decision), so creating a partition never fails on data.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from lms.models import utcnow

AHEAD = 3
SCHEMA = "learning_event_partitions"  # the partitions' own schema (see the migration)


def _month(start: date, shift: int) -> date:
    index = start.year * 12 + start.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def ensure_months(session: Session, ahead: int = AHEAD) -> list[str]:
    """Create missing partitions from this month to `ahead` months on; returns new names."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    existing = set(
        session.scalars(
            text(
                "SELECT n.nspname || '.' || c.relname FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE i.inhparent = 'learning_events'::regclass"
            )
        )
    )
    made = []
    this_month = utcnow().date().replace(day=1)
    for shift in range(ahead + 1):
        start, end = _month(this_month, shift), _month(this_month, shift + 1)
        name = f"{SCHEMA}.learning_events_{start:%Y%m}"
        if name in existing:
            continue
        bounds = {"start": f"{start} 00:00+00", "end": f"{end} 00:00+00"}
        stray = session.scalar(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.learning_events_default "
                "WHERE timestamp >= CAST(:start AS timestamptz) "
                "AND timestamp < CAST(:end AS timestamptz))"
            ),
            bounds,
        )
        if stray:
            continue
        session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF learning_events "
                f"FOR VALUES FROM ('{bounds['start']}') TO ('{bounds['end']}')"
            )
        )
        made.append(name)
    return made
