"""Webhook endpoints: `POST /webhooks/stripe`.

The raw body is verified (the signature covers the exact bytes), stored and queued by
`lms.payments.service.webhooks.receive` in one short transaction; the answer comes at once
and the event is handled by a job.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app, request

from lms.payments.service.webhooks import receive

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/stripe")
async def stripe_webhook() -> Response:
    body = await request.get_data(cache=False)
    headers = dict(request.headers.items())
    services = current_app.config["LMS_SERVICES"]
    async with services.sessions() as session, session.begin():
        receipt = await session.run_sync(lambda sync: receive(sync, body=body, headers=headers))
    return Response(
        json.dumps(receipt.body), status=receipt.status, content_type="application/json"
    )
