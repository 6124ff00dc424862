"""The Search module's error codes (each also in `schemas/errors.graphql`)."""

from __future__ import annotations

from lms.errors import ValidationFailed


def empty_query() -> ValidationFailed:
    return ValidationFailed("type something to search for", code="EMPTY_QUERY", field="query")


def query_too_long(maximum: int) -> ValidationFailed:
    return ValidationFailed(
        f"a search query has at most {maximum} characters",
        code="QUERY_TOO_LONG",
        field="query",
        maxLength=maximum,
    )


def no_search_terms() -> ValidationFailed:
    return ValidationFailed(
        "the query only excludes words; say what to look for too",
        code="NO_SEARCH_TERMS",
        field="query",
    )


def invalid_page(field: str, message: str, **details) -> ValidationFailed:
    return ValidationFailed(message, code="INVALID_PAGE_SIZE", field=field, **details)


def invalid_page_number() -> ValidationFailed:
    return ValidationFailed("page counts from 1", code="INVALID_PAGE", field="page")


def page_too_deep(window: int) -> ValidationFailed:
    return ValidationFailed(
        f"search results are available up to the {window}th; refine the query instead",
        code="SEARCH_PAGE_TOO_DEEP",
        field="pagination",
        maxResultWindow=window,
    )


def unknown_facet(name: str, known: list[str]) -> ValidationFailed:
    return ValidationFailed(
        f"there is no facet {name!r}", code="UNKNOWN_FACET", field="facets", knownFacets=known
    )


def invalid_filter(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code="INVALID_SEARCH_FILTER", field=field)


def invalid_limit(maximum: int) -> ValidationFailed:
    return ValidationFailed(
        f"limit is 1 to {maximum}", code="INVALID_LIMIT", field="limit", maximum=maximum
    )
