"""Relay-style cursor connections: forward pagination with `first`/`after` and keyset cursors.

A cursor is the sort key of the last row seen (keyset pagination: stable under inserts,
no OFFSET scans), wrapped as `base64url(json).signature`. The signature is an HMAC of the
payload with the server secret, and the payload names the query it belongs to (the
connection plus its filter and sort), so a cursor that is garbage, edited, or taken from
another query is refused with `INVALID_CURSOR` instead of silently paging something else.

Page size: `first` defaults to `DEFAULT_FIRST`; anything outside 1..`MAX_FIRST` is refused
with `INVALID_PAGE_SIZE` (not clamped), so a client asking for 100,000 rows learns the
limit (`extensions.maxFirst`) instead of receiving a silently shorter page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lms.config import get_settings
from lms.errors import ValidationFailed

DEFAULT_FIRST = 20
MAX_FIRST = 100
CURSOR_VERSION = 1
_SIGNATURE_BYTES = 16

T = TypeVar("T")


def query_key(name: str, arguments: dict[str, Any] | None) -> str:
    """A short fingerprint of a connection and the arguments that shape its order and rows."""
    canonical = json.dumps(
        [name, arguments or {}], sort_keys=True, default=str, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _sign(payload: bytes, secret: str) -> bytes:
    return hmac.new(f"cursor:{secret}".encode(), payload, hashlib.sha256).digest()[
        :_SIGNATURE_BYTES
    ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(key: Sequence[Any], *, query: str, secret: str | None = None) -> str:
    """An opaque, signed cursor for the row whose sort key is `key` (JSON-able values)."""
    secret = secret or get_settings().secret_key
    payload = json.dumps(
        {"v": CURSOR_VERSION, "q": query, "k": list(key)}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_sign(payload, secret))}"


def invalid_cursor(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid pagination cursor: {reason}", code="INVALID_CURSOR", field="after"
    )


def decode_cursor(cursor: str, *, query: str, secret: str | None = None) -> list[Any]:
    """The sort key inside `cursor`; `INVALID_CURSOR` unless it is ours, intact and for `query`."""
    secret = secret or get_settings().secret_key
    if not isinstance(cursor, str) or len(cursor) > 2000 or cursor.count(".") != 1:
        raise invalid_cursor("not a cursor from this API")
    body, signature = cursor.split(".")
    try:
        payload, given = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError):
        raise invalid_cursor("not a cursor from this API") from None
    if not hmac.compare_digest(given, _sign(payload, secret)):
        raise invalid_cursor("not a cursor from this API")
    try:
        data = json.loads(payload)
    except ValueError:
        raise invalid_cursor("not a cursor from this API") from None
    if (
        not isinstance(data, dict)
        or data.get("v") != CURSOR_VERSION
        or not isinstance(data.get("k"), list)
    ):
        raise invalid_cursor("cursor from an older version of the API; start from the first page")
    if data.get("q") != query:
        raise invalid_cursor("cursor belongs to another query (different list, filter or sort)")
    return data["k"]


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: list[Any] | None  # the decoded sort key to continue after
    query: str


def page_request(pagination: dict[str, Any] | None, *, query: str) -> PageRequest:
    """Validate `PaginationInput` (`first`, `after`) for the connection fingerprinted `query`."""
    pagination = pagination or {}
    first = pagination.get("first")
    first = DEFAULT_FIRST if first is None else first
    if not 1 <= first <= MAX_FIRST:
        raise ValidationFailed(
            f"first must be between 1 and {MAX_FIRST}",
            code="INVALID_PAGE_SIZE",
            field="first",
            maxFirst=MAX_FIRST,
        )
    after = pagination.get("after")
    return PageRequest(first, None if after is None else decode_cursor(after, query=query), query)


@dataclass
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None

    @property
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(
    rows: Sequence[T],
    request: PageRequest,
    sort_key: Callable[[T], Sequence[Any]],
    total_count: int | None,
) -> Connection[T]:
    """Build a connection from up to `first + 1` rows (the extra row only says "there is more")."""
    page = list(rows[: request.first])
    edges = [Edge(encode_cursor(sort_key(row), query=request.query), row) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > request.first,
            has_previous_page=request.after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total_count,
    )
