"""Engines and sessions: async for the API, sync for workers and the CLI.

Services take a session and never commit; the edge (a GraphQL mutation, a task) commits.
On SQLite the API and the worker write one file at once, hence WAL and a busy timeout.
"""

from __future__ import annotations

import contextlib
import functools
import select
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

import lms.all_models  # noqa: F401 - every mapper known before the first session
from lms.config import ConfigError, Settings, get_settings
from lms.observability import tracing


def driver_url(url: str, *, asynchronous: bool) -> str:
    """Map a plain `sqlite:`/`postgresql:` URL to the driver this process uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if asynchronous else "pysqlite"
    elif backend in ("postgresql", "postgres"):
        backend, driver = "postgresql", "psycopg"
    else:
        raise ConfigError(f"LMS_DATABASE_URL: unsupported database {backend!r}")
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine_options(url: str, settings: Settings) -> dict:
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return {"connect_args": {"timeout": 15}}
    return {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
    }


def _socket_ping(dbapi_connection) -> bool:
    """The pool's pre-ping without a round trip. A pooled connection is idle and Lyceum
    LISTENs on none, so anything the server sent since is its farewell (a terminated
    backend, a shutdown, an idle timeout) or, rarely, a notice: either way the connection
    is replaced. Stands in for the dialect's `;` query, one round trip per checkout (every
    request and transaction)."""
    connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    # poll, not select: select() refuses descriptors above 1024, which an API holding
    # hundreds of keep-alive connections hands to its database sockets.
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    return not poller.poll(0)


def _configure(sync_engine: Engine) -> None:
    if sync_engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)
    elif sync_engine.dialect.driver == "psycopg":
        sync_engine.dialect.do_ping = _socket_ping
    tracing.instrument_engine(sync_engine)


def _traced(options: dict, url: str, *, asynchronous: bool) -> dict:
    """`options` with the connection arguments of SQL spans, when tracing is on."""
    spans = tracing.sql_connect_args(url, asynchronous=asynchronous)
    if spans:
        options = {**options, "connect_args": {**options.get("connect_args", {}), **spans}}
    return options


def build_sync_engine(settings: Settings) -> Engine:
    url = driver_url(settings.database_url, asynchronous=False)
    engine = create_engine(url, **_traced(_engine_options(url, settings), url, asynchronous=False))
    _configure(engine)
    return engine


def build_async_engine(settings: Settings) -> AsyncEngine:
    url = driver_url(settings.database_url, asynchronous=True)
    options = _traced(_engine_options(url, settings), url, asynchronous=True)
    engine = create_async_engine(url, **options)
    _configure(engine.sync_engine)
    return engine


@functools.lru_cache(maxsize=4)
def _sync_factory(database_url: str) -> sessionmaker[Session]:
    engine = build_sync_engine(get_settings().model_copy(update={"database_url": database_url}))
    return sessionmaker(engine, expire_on_commit=False)


def sync_sessionmaker(settings: Settings | None = None) -> sessionmaker[Session]:
    return _sync_factory((settings or get_settings()).database_url)


@functools.lru_cache(maxsize=4)
def _autocommit_engine(database_url: str) -> Engine:
    settings = get_settings().model_copy(update={"database_url": database_url})
    engine = build_sync_engine(settings)
    if engine.dialect.name == "postgresql":
        # Set once for the pool: per-checkout switching would cost round trips.
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def autocommit_engine(settings: Settings | None = None) -> Engine:
    """An engine whose PostgreSQL connections autocommit: for single atomic statements on
    hot paths (a job's status changes), where BEGIN and COMMIT would double the round trips."""
    return _autocommit_engine((settings or get_settings()).database_url)


@contextlib.contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with sync_sessionmaker(settings)() as session, session.begin():
        yield session


# A few connections suffice: each intake holds one for a single statement, and callers beyond
# them wait for one in the pool. No overflow: a connection opened and closed per request
# under a burst costs more than the wait.
INTAKE_POOL_SIZE = 8
INTAKE_APPLICATION_NAME = "lms-intake"  # its connections, as pg_stat_activity shows them


def build_intake_engine(settings: Settings) -> AsyncEngine:
    """An async engine for one-statement writes on a hot path (webhook intake): autocommit,
    so the statement is its own durable transaction with no BEGIN and COMMIT round trips, and
    no ping per checkout (the caller retries once on a connection found dead instead)."""
    url = driver_url(settings.database_url, asynchronous=True)
    options = _engine_options(url, settings)
    if make_url(url).get_backend_name() != "sqlite":
        options.update(pool_pre_ping=False, pool_size=INTAKE_POOL_SIZE, max_overflow=0)
        options["connect_args"] = {"application_name": INTAKE_APPLICATION_NAME}
    options = _traced(options, url, asynchronous=True)
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", **options)
    _configure(engine.sync_engine)
    return engine


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def check_database(settings: Settings) -> None:
    """Fail with `ConfigError` when the database cannot be reached."""
    try:
        with sync_sessionmaker(settings)() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "unreachable" to an operator
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"LMS_DATABASE_URL: database unreachable ({reason})") from None
