"""Keyset pages over rows ordered newest first by (…, id), all columns descending."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from lms.pagination import Connection, connection, invalid_cursor, page_request, query_key


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _typed(raw: Sequence[Any], kinds: Sequence[type]) -> list[Any]:
    if len(raw) != len(kinds):
        raise invalid_cursor("not a cursor of this list")
    try:
        return [
            datetime.fromisoformat(v)
            if kind is datetime
            else uuid.UUID(v)
            if kind is uuid.UUID
            else kind(v)
            for v, kind in zip(raw, kinds, strict=True)
        ]
    except (TypeError, ValueError):
        raise invalid_cursor("not a cursor of this list") from None


def keyset_page(
    session: Session,
    statement: Select,
    *,
    name: str,
    arguments: dict[str, Any],
    pagination: dict[str, Any] | None,
    columns: Sequence[Any],
    kinds: Sequence[type],
    key: Callable[[Any], Sequence[Any]],
) -> Connection:
    """One page of `statement` (rows of one entity) ordered by `columns` descending."""
    request = page_request(pagination, query=query_key(name, arguments))
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    query = statement.order_by(*(column.desc() for column in columns))
    if request.after is not None:
        query = query.where(tuple_(*columns) < tuple_(*_typed(request.after, kinds)))
    rows = list(session.scalars(query.limit(request.first + 1)))
    return connection(rows, request, lambda row: [_plain(v) for v in key(row)], total or 0)
