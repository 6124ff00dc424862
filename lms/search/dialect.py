"""The two backends differ in a few statements; this is where the code asks which it has."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict]) -> None:
    if not rows:
        return
    make = postgresql.insert if is_postgres(session) else sqlite.insert
    session.execute(make(model).values(rows).on_conflict_do_nothing())


def upsert(session: Session, model: Any, row: dict, keys: list[str]) -> None:
    """Insert `row`, or update every other column of the row with the same `keys`."""
    make = postgresql.insert if is_postgres(session) else sqlite.insert
    statement = make(model).values(row)
    changes = {name: statement.excluded[name] for name in row if name not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
