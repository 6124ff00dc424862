"""Set membership for a fan-out batch of thousands of ids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column, values: Iterable[Any]):
    """`column IN (…)`; on PostgreSQL `column = ANY(:array)`, one parameter instead of
    thousands (building and parsing a 2,000-placeholder statement costs more than running it)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("among", values, type_=ARRAY(column.type), unique=True))
    return column.in_(values)


def array_text(values: Iterable[Any]) -> str:
    """PostgreSQL's text form of an array of UUIDs or integers, for a parameter the
    statement casts (`CAST(:ids AS uuid[])`). psycopg dumps a list element by element in
    Python, which for a fan-out's 10,000 ids cost more than the statement's own work. The
    elements' texts need no quoting; anything else fails the cast, never the statement."""
    return "{" + ",".join(map(str, values)) + "}"
