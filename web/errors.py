"""GraphQL error formatting: every error gets a stable `extensions.code`.

Unexpected exceptions are masked ("Internal server error") unless debug is on, so stack
traces and internals never reach clients in production.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from lms.errors import LmsError

log = logging.getLogger("lms.web")
INTERNAL = "INTERNAL_SERVER_ERROR"


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, LmsError):
        return original.code
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    if original is not None and not isinstance(original, GraphQLError):
        return INTERNAL
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_USER_INPUT"


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    code = error_code(error)
    formatted: dict[str, Any] = error.formatted
    extensions = dict(formatted.get("extensions") or {})
    extensions.pop("exception", None)
    extensions["code"] = code
    original = error.original_error
    if isinstance(original, LmsError) and original.details:
        extensions.update(original.details)
    if code == INTERNAL:
        log.error("unhandled error in %s", error.path, exc_info=original)
        if not debug:
            formatted["message"] = "Internal server error"
        else:
            import traceback

            extensions["stacktrace"] = traceback.format_exception(original)
    formatted["extensions"] = extensions
    return formatted
