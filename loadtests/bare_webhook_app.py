"""The baseline of the webhook benchmarks: a bare Quart route doing the same single INSERT.

    .venv/bin/python -m loadtests.bare_webhook_app --port 8099

`POST /bare/webhooks/stripe` reads the body, takes the event id from its JSON and runs the
endpoint's one statement (`INSERT … ON CONFLICT (event_id) DO UPDATE … RETURNING`) on the
same kind of intake engine, into a table shaped like `payment_webhook_deliveries` (same
columns and indexes, no relay reads it), then answers. No signature check, no middleware,
no request id: what is left of the real endpoint's cost above this is ours. Served by
hypercorn as `lms serve` serves the API, so the two compare under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from quart import Quart, Response, request
from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.dialects import postgresql

from lms.db import build_intake_engine
from lms.models import new_id, utcnow
from lms.payments.models import DeliveryOutcome, WebhookDelivery

TABLE = "bench_bare_webhook_deliveries"
_bare = Table(TABLE, MetaData(), *(Column(c.name, c.type) for c in WebhookDelivery.__table__.c))
_STORE = (
    postgresql.insert(_bare)
    .on_conflict_do_update(index_elements=["event_id"], set_={"duplicates": _bare.c.duplicates + 1})
    .returning(_bare.c.duplicates, _bare.c.outcome, _bare.c.job_id)
)


def create_bare_app(settings=None) -> Quart:
    from lms.config import get_settings

    settings = settings or get_settings()
    app = Quart("bare-webhooks")

    @app.before_serving
    async def start() -> None:
        engine = build_intake_engine(settings)
        async with engine.connect() as connection:
            await connection.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} "
                    "(LIKE payment_webhook_deliveries INCLUDING DEFAULTS INCLUDING INDEXES)"
                )
            )
        app.config["ENGINE"] = engine

    @app.after_serving
    async def stop() -> None:
        await app.config["ENGINE"].dispose()

    @app.post("/bare/webhooks/stripe")
    async def store() -> Response:
        body = await request.get_data(cache=False)
        event = json.loads(body)
        row = {
            "id": new_id(),
            "event_id": event["id"],
            "event_type": event["type"],
            "headers": {},
            "body": body.decode(),
            "received_at": utcnow(),
            "source": "webhook",
            "valid": True,
            "duplicates": 0,
            "outcome": DeliveryOutcome.QUEUED,
        }
        async with app.config["ENGINE"].connect() as connection:
            duplicates, _outcome, _job = (await connection.execute(_STORE, row)).one()
        answer = {"received": True, "duplicate": True} if duplicates else {"received": True}
        return Response(json.dumps(answer), content_type="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.accesslog = None  # hypercorn's error log says "Running on" once it listens
    asyncio.run(serve(create_bare_app(), config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
