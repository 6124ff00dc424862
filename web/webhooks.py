"""Webhook endpoints: `POST /webhooks/stripe`, a plain ASGI handler ahead of Quart.

The raw body is verified (the signature covers the exact bytes) before any database work,
then stored with one autocommitted statement (one round trip, durable when answered) on the
intake engine: no ORM session, no BEGIN/COMMIT, no ping. The answer follows; the handling job
is recorded afterwards, in batches, by the process's relay thread.

Why not a Quart route: Stripe sends in bursts, and under a burst the answer time is about the
queue length times the CPU one accept costs. Quart's request context, routing, hooks and
response object were about a third of that CPU (`loadtests/profile_webhooks.py`) and give this
answer nothing it needs. What it keeps from the shell: the request id (the dispatcher sets
it), the security headers, the body limit (413), 405 for other methods and SERVICE_BUSY (503)
when no database connection comes free. No CORS: Stripe calls server to server.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.util import greenlet_spawn

from lms.logs import request_id
from lms.payments import relay_thread
from lms.payments.service.webhooks import Intake, Stored, check
from web import errors
from web.security_headers import SECURITY_HEADERS

log = logging.getLogger(__name__)
STRIPE_PATH = "/webhooks/stripe"
_HEADERS = [(b"content-type", b"application/json")] + [
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
]


async def stripe_webhook(config, scope, receive, send) -> None:
    """Answer one HTTP request to `STRIPE_PATH`; `config` is the Quart app's (its services and
    intake engine, set when serving starts)."""
    if scope["method"] != "POST":
        extra = [(b"allow", b"POST")]
        await _error(send, 405, "METHOD_NOT_ALLOWED", "Method not allowed here.", extra)
        return
    settings = config["LMS_SERVICES"].settings
    body = await _body(receive, settings.max_body_bytes)
    if body is None:
        message = f"The request body is over {settings.max_body_bytes} bytes."
        await _error(send, 413, "REQUEST_TOO_LARGE", message)
        return
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    try:
        stored = await _store(config["LMS_INTAKE_ENGINE"], check(body, headers))
    except PoolTimeout:
        log.warning("SERVICE_BUSY: no database connection within %ss", settings.db_pool_timeout)
        await _error(send, 503, errors.BUSY, errors.BUSY_MESSAGE, [(b"retry-after", b"1")])
        return
    except Exception:  # Stripe retries on any non-2xx: a clear 500, the cause in the log
        log.exception("webhook delivery not stored")
        await _error(send, 500, errors.INTERNAL, "Internal server error")
        return
    if stored.needs_relay:  # committed: the relay can see (and lock) the row now
        relay_thread.wake(settings)
    receipt = stored.receipt
    await _answer(send, receipt.status, json.dumps(receipt.body).encode())


async def _body(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _store(engine, intake: Intake) -> Stored:
    # Checkout, execute and return in one hop onto SQLAlchemy's greenlet, not one each (what
    # `async with engine.connect()` and `await execute` would take).
    return intake.stored(await greenlet_spawn(_execute, engine.sync_engine, intake))


def _execute(sync_engine, intake: Intake) -> Row:
    statement = intake.statement(sync_engine.dialect.name)
    try:
        with sync_engine.connect() as connection:
            return connection.execute(statement, intake.row).one()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    # A pooled connection the server had dropped (restart, idle timeout): the pool is
    # refreshed; once more on a new one. Safe: a verified event stored by the lost attempt
    # comes back as a duplicate, answered 200 all the same.
    with sync_engine.connect() as connection:
        return connection.execute(statement, intake.row).one()


async def _error(send, status: int, code: str, message: str, extra: list | None = None) -> None:
    """The shell's error shape (`graphql_http.error_response`), request id included."""
    extensions = {"code": code}
    if rid := request_id.get():
        extensions["requestId"] = rid
    body = {"errors": [{"message": message, "extensions": extensions}]}
    await _answer(send, status, json.dumps(body).encode(), extra)


async def _answer(send, status: int, body: bytes, extra: list | None = None) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
