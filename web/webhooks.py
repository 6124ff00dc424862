"""Webhook endpoints: `POST /webhooks/stripe`.

The raw body is verified (the signature covers the exact bytes) before any database work,
then stored with one statement in one short transaction on a pooled connection (no ORM
session: nothing else is read or written). The answer follows the commit; the handling job
is recorded afterwards, in batches, by the process's relay thread.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app, request

from lms.payments import relay_thread
from lms.payments.service.webhooks import check

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/stripe")
async def stripe_webhook() -> Response:
    body = await request.get_data(cache=False)
    intake = check(body, dict(request.headers.items()))
    engine = current_app.config["LMS_ENGINE"]
    async with engine.begin() as connection:
        result = await connection.execute(intake.statement(engine.dialect.name))
        stored = intake.stored(result.one())
    if stored.needs_relay:  # committed: the relay can see (and lock) the row now
        relay_thread.wake(current_app.config["LMS_SERVICES"].settings)
    receipt = stored.receipt
    return Response(
        json.dumps(receipt.body), status=receipt.status, content_type="application/json"
    )
