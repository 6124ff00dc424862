"""`/healthz` (database and broker reachable, event bus connected) and `/metrics`."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from kombu import Connection
from quart import Blueprint, Response, current_app
from sqlalchemy import text

from lms.jobs.broker import broker_connection_args
from web import metrics

blueprint = Blueprint("health", __name__)
BROKER_TIMEOUT = 5.0
# The probe's own thread: on the loop's default executor it would queue behind argon2
# hashing and report a TimeoutError instead of what the broker said.
_probe = ThreadPoolExecutor(2, thread_name_prefix="lms-healthz")


def _broker_reachable(settings) -> None:
    url, options = broker_connection_args(settings)
    with Connection(url, transport_options=options, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=0)  # one try: no retry sleep in a probe


def _describe(error: BaseException) -> str:
    error = error.__cause__ or error  # kombu wraps the socket's error: name the socket's
    detail = str(error).strip()
    return f"error: {type(error).__name__}" + (f": {detail}" if detail else "")


@blueprint.get("/healthz")
async def healthz() -> Response:
    services = current_app.config["LMS_SERVICES"]
    checks: dict[str, str] = {}
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - report, don't crash the probe
        checks["database"] = f"error: {type(error).__name__}"
    loop = asyncio.get_running_loop()
    probe = loop.run_in_executor(_probe, _broker_reachable, services.settings)
    try:
        await asyncio.wait_for(probe, BROKER_TIMEOUT)
        checks["broker"] = "ok"
    except TimeoutError:
        checks["broker"] = f"error: no answer from the broker within {BROKER_TIMEOUT:g} s"
    except Exception as error:  # noqa: BLE001
        checks["broker"] = _describe(error)
    healthy = all(value == "ok" for value in checks.values())
    # The event bus listener reconnects by itself: while it does, live subscriptions stall
    # but requests are served, so it degrades the status without failing the probe (200).
    events = "ok" if services.hub.connected else "degraded"
    status = ("ok" if events == "ok" else "degraded") if healthy else "error"
    body = {"status": status, **checks, "events": events}
    return Response(
        json.dumps(body), status=200 if healthy else 503, content_type="application/json"
    )


@blueprint.get("/metrics")
async def prometheus() -> Response:
    services = current_app.config["LMS_SERVICES"]
    payload = await asyncio.to_thread(metrics.render, services.settings)
    return Response(payload, content_type="text/plain; version=0.0.4; charset=utf-8")
