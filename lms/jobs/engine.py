"""The database engines of the job hot path (status transitions, publish stamps, claims).

On PostgreSQL: autocommit (each statement stands alone: no BEGIN and COMMIT round trips)
and no ping at checkout (one more round trip per statement otherwise). Every user of these
engines retries a dropped connection itself (`states.retrying_db`), and SQLAlchemy replaces
the pool's connections once one of them is found disconnected. Elsewhere (SQLite) both are
the shared autocommit engine.

`durable=False` is for writes whose loss in a PostgreSQL crash something else repairs (a
lease renewal, an attempt's outcome: the lease expires and the reaper runs the job again;
a publish stamp: the claim expires and the relay publishes again; a start: the job is
back as it was, its attempt's later writes are refused as stale, and the relay sends a
job left QUEUED again, `LMS_JOB_REPUBLISH_AFTER_SECONDS`): their commits skip the wait
for the WAL flush (`synchronous_commit = off`, never a risk of corruption), which costs
milliseconds per commit on a busy disk. Only a PostgreSQL crash loses such a commit, and
only within moments of it: any later durable commit (anyone's) flushes it too; an effect
record (`lms.jobs.effects`) is one, so no effect leaves under a start that could be lost.

No SQL spans on these engines (`tracing.instrument_engine`): their statements are the job
machinery's own bookkeeping, which the job's span and its events already time. With the
spans' statement listeners on them, every claim, stamp and transition paid SQLAlchemy's
event dispatch, for spans that were almost never made (most run outside any span).
"""

from __future__ import annotations

import functools

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from lms.config import Settings, get_settings
from lms.db import autocommit_engine, driver_url


@functools.lru_cache(maxsize=8)
def _postgres_engine(database_url: str, durable: bool) -> Engine:
    engine = create_engine(
        driver_url(database_url, asynchronous=False),
        pool_size=10,
        max_overflow=20,
        isolation_level="AUTOCOMMIT",
    )
    if not durable:

        @event.listens_for(engine, "connect")
        def _relaxed(dbapi_connection, _record) -> None:
            dbapi_connection.execute("SET synchronous_commit TO off")

    return engine


def job_engine(settings: Settings | None = None, *, durable: bool = True) -> Engine:
    return _engine_for((settings or get_settings()).database_url, durable)


@functools.lru_cache(maxsize=8)
def _engine_for(database_url: str, durable: bool) -> Engine:
    if make_url(database_url).get_backend_name() in ("postgresql", "postgres"):
        return _postgres_engine(database_url, durable)
    return autocommit_engine(get_settings().model_copy(update={"database_url": database_url}))
