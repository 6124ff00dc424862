"""A request id per HTTP request and websocket connection, so a user's report matches a log
line: every log record carries it, GraphQL errors return it in `extensions.requestId`, and
HTTP responses in the `X-Request-ID` header.

A well-formed `X-Request-ID` from a proxy or client is kept, so ids follow a request across
services; anything else is replaced by a fresh one.
"""

from __future__ import annotations

import re
import uuid

from lms.logs import request_id

HEADER = "X-Request-ID"
_RAW_HEADER = HEADER.lower().encode()
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{8,64}")


def from_scope(scope: dict) -> str:
    for name, value in scope.get("headers") or ():
        if name == _RAW_HEADER and _WELL_FORMED.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex[:16]


async def with_request_id(app, scope, receive, send) -> None:
    """Run the ASGI `app` with a request id set and echoed in the response headers."""
    if scope["type"] not in ("http", "websocket"):
        await app(scope, receive, send)
        return
    rid = from_scope(scope)
    token = request_id.set(rid)

    async def send_with_id(message: dict) -> None:
        if message["type"] in ("http.response.start", "websocket.accept"):
            headers = [h for h in message.get("headers") or () if h[0].lower() != _RAW_HEADER]
            message = {**message, "headers": [*headers, (_RAW_HEADER, rid.encode())]}
        await send(message)

    try:
        await app(scope, receive, send_with_id)
    finally:
        request_id.reset(token)
