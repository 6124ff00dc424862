"""GraphQL error formatting and logging: every error gets a stable `extensions.code` and
the request id (`extensions.requestId`) that its log line carries.

Unexpected exceptions are masked ("Internal server error") unless debug is on, so stack
traces and internals never reach clients in production.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from lms.errors import LmsError
from lms.logs import request_id

log = logging.getLogger("lms.graphql")
INTERNAL = "INTERNAL_SERVER_ERROR"
# No database connection came free within LMS_DB_POOL_TIMEOUT: overload, not a bug; the
# client may retry shortly.
BUSY = "SERVICE_BUSY"
BUSY_MESSAGE = "The server is busy; try again in a moment."
# The client's `operationName`, set per HTTP request (web/graphql_http.py).
operation_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lms_operation_name", default=None
)


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, LmsError):
        return original.code
    if isinstance(original, PoolTimeout):
        return BUSY
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
    if rid := request_id.get():
        extensions["requestId"] = rid
    if code == BUSY:
        formatted["message"] = BUSY_MESSAGE
    if code == INTERNAL:
        if not debug:
            formatted["message"] = "Internal server error"
        else:
            import traceback

            extensions["stacktrace"] = traceback.format_exception(original)
    formatted["extensions"] = extensions
    return formatted


class GraphQLErrorLog(logging.LoggerAdapter):
    """Given to Ariadne as its `logger`: Ariadne calls `error(err, exc_info=err)` once for
    every error of a result. Expected errors (a stable code the client can act on) become
    one INFO line; unexpected ones one ERROR with the original traceback."""

    def __init__(self) -> None:
        super().__init__(log, {})

    def error(self, msg, *args, **kwargs) -> None:
        if not isinstance(msg, GraphQLError):
            self.logger.error(msg, *args, **kwargs)
            return
        code = error_code(msg)
        root_field = str(msg.path[0]) if msg.path else None
        operation = operation_name.get() or root_field or "-"
        extra = {"code": code, "operation": operation, "field": root_field}
        if code == INTERNAL:
            self.logger.error(
                "%s in %s: %s", code, operation, msg.message,
                exc_info=msg.original_error or msg, extra=extra,
            )  # fmt: skip
        elif code == BUSY:
            self.logger.warning("%s in %s: %s", code, operation, msg.message, extra=extra)
        else:
            self.logger.info("%s in %s: %s", code, operation, msg.message, extra=extra)


error_log = GraphQLErrorLog()
