"""Checking what a client sends: the query text, page and limits. Every refusal has a code."""

from __future__ import annotations

from typing import Any

from lms.sanitize import plain_text
from lms.search import errors
from lms.search.settings import search_settings
from lms.search.text import Query, parse

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def checked_query(raw: Any, *, prefix: bool = True) -> tuple[str, Query]:
    """The cleaned text and its query tree; refuses empty, overlong and exclusion-only input."""
    maximum = search_settings().query_max_chars
    raw = raw if isinstance(raw, str) else ""
    text = plain_text(raw)
    if len(text) > maximum:
        raise errors.query_too_long(maximum)
    if not text:
        raise errors.empty_query()
    # A trailing space (cleaned away above) means the last word is finished: no prefix.
    query = parse(text, prefix=prefix and not raw[-1:].isspace())
    if not query.clauses:
        raise errors.empty_query()  # only punctuation or operators
    if not query.positive_terms:
        raise errors.no_search_terms()
    return text, query


def checked_page(pagination: dict | None) -> tuple[int, int, int]:
    """(page, page size, offset) from `{page, pageSize}`: pages count from 1."""
    pagination = pagination or {}
    page = pagination.get("page")
    page = 1 if page is None else page
    size = pagination.get("page_size")
    size = DEFAULT_PAGE_SIZE if size is None else size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise errors.invalid_page(
            "pageSize", f"pageSize is 1 to {MAX_PAGE_SIZE}", maxPageSize=MAX_PAGE_SIZE
        )
    if page < 1:
        raise errors.invalid_page_number()
    window = search_settings().max_result_window
    if page * size > window:
        raise errors.page_too_deep(window)
    return page, size, (page - 1) * size


def checked_limit(limit: int | None, default: int, maximum: int) -> int:
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise errors.invalid_limit(maximum)
    return limit
