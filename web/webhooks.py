"""Webhook endpoints: `POST /webhooks/stripe`.

The raw body is verified (the signature covers the exact bytes) before any database work,
then stored with one autocommitted statement (one round trip, durable when answered) on the
intake engine: no ORM session, no BEGIN/COMMIT, no ping. The answer follows; the handling job
is recorded afterwards, in batches, by the process's relay thread.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError

from lms.payments import relay_thread
from lms.payments.service.webhooks import Intake, Stored, check

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/stripe")
async def stripe_webhook() -> Response:
    body = await request.get_data(cache=False)
    intake = check(body, dict(request.headers.items()))
    stored = await _store(intake)
    if stored.needs_relay:  # committed: the relay can see (and lock) the row now
        relay_thread.wake(current_app.config["LMS_SERVICES"].settings)
    receipt = stored.receipt
    return Response(
        json.dumps(receipt.body), status=receipt.status, content_type="application/json"
    )


async def _store(intake: Intake) -> Stored:
    engine = current_app.config["LMS_INTAKE_ENGINE"]
    statement = intake.statement(engine.dialect.name)
    try:
        async with engine.connect() as connection:
            return intake.stored((await connection.execute(statement, intake.row)).one())
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    # A pooled connection the server had dropped (restart, idle timeout): the pool is
    # refreshed; once more on a new one. Safe: a verified event stored by the lost attempt
    # comes back as a duplicate, answered 200 all the same.
    async with engine.connect() as connection:
        return intake.stored((await connection.execute(statement, intake.row)).one())
