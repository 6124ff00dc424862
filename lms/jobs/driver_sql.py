"""A hot-path statement compiled once and run on the DBAPI connection's own cursor.

The job machinery runs a few statements per job (the producer's INSERT, the worker's two
transitions), and SQLAlchemy's per-execution work (cache key and compiled-cache lookup,
parameter processing, result metadata from the cursor description) cost more CPU than the
driver's. Parameters get the same bind processing as through SQLAlchemy; a driver error is
raised as SQLAlchemy's (`states.retrying_db`, the task base and the API's error handling
match those) and a dropped connection is invalidated as SQLAlchemy does.

Only for a synchronous PostgreSQL engine nothing listens to (`usable`): tracing's SQL spans
and the tests that count statements are engine events, and must see every statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError


def usable(engine: Engine) -> bool:
    dialect = engine.dialect
    return dialect.name == "postgresql" and not dialect.is_async and not engine._has_events


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    compiled: Any
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def compile(cls, statement, dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        return cls(str(compiled), compiled, dict(compiled._bind_processors))

    def parameters(self, values: dict[str, Any]) -> dict[str, Any]:
        named = self.compiled.construct_params(values)
        for key, process in self.processors.items():
            if key in named:
                named[key] = process(named[key])
        return named

    def fetchone(
        self, connection, values: dict[str, Any], dialect, invalidate: Callable[[Exception], Any]
    ) -> tuple | None:
        """Run on `connection` (a pooled DBAPI connection) and return the first row.

        `invalidate(error)` is called when the error means the connection is gone."""
        dbapi_error = dialect.loaded_dbapi.Error
        parameters = self.parameters(values)
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, parameters)
            return cursor.fetchone()
        except dbapi_error as error:
            lost = dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if lost:
                invalidate(error)
            raise DBAPIError.instance(
                self.sql,
                parameters,
                error,
                dbapi_error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()
