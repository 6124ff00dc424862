"""`/healthz` (liveness: database and broker reachable, event bus connected), `/readyz`
(readiness, per component with its latency and last error) and `/metrics`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from kombu import Connection
from quart import Blueprint, Response, current_app
from sqlalchemy import text

from lms.jobs.broker import broker_connection_args
from lms.storage import get_storage
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


READY_TIMEOUT = 5.0
PROBE_KEY = "readyz/probe"  # never written: a stat of it proves the storage answers
# The app's latest failure of each component, shown until the next one, so an operator
# sees what went wrong a minute ago even once the component is back.
LAST_ERRORS = "LMS_READY_LAST_ERRORS"


def _stat_storage(settings) -> None:
    get_storage(settings).stat(PROBE_KEY)


async def _ping_redis(url: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _select_one(services) -> None:
    async with services.sessions() as session:
        await session.execute(text("SELECT 1"))


def _in_thread(fn, *args) -> Callable[[], Awaitable[None]]:
    return lambda: asyncio.get_running_loop().run_in_executor(_probe, fn, *args)


async def _timed(name: str, check: Callable[[], Awaitable[None]], last_errors: dict) -> dict:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT)
        status = "ok"
    except TimeoutError:
        status = "error"
        last_errors[name] = (f"no answer within {READY_TIMEOUT:g} s", time.time())
    except Exception as error:  # noqa: BLE001 - report, don't crash the probe
        status = "error"
        last_errors[name] = (_describe(error).removeprefix("error: "), time.time())
    return {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        **_last(last_errors.get(name)),
    }


def _last(error: tuple[str, float] | None) -> dict:
    if error is None:
        return {"last_error": None, "last_error_at": None}
    when = datetime.fromtimestamp(error[1], UTC).isoformat(timespec="seconds")
    return {"last_error": error[0], "last_error_at": when}


@blueprint.get("/readyz")
async def readyz() -> Response:
    """Ready when every component a request may need answers; 503 otherwise. A disconnected
    event bus only degrades (requests are served; live subscriptions wait for it)."""
    services = current_app.config["LMS_SERVICES"]
    settings = services.settings
    checks = {
        "database": lambda: _select_one(services),
        "broker": _in_thread(_broker_reachable, settings),
        "storage": _in_thread(_stat_storage, settings),
    }
    if settings.redis_url:
        checks["redis"] = lambda: _ping_redis(settings.redis_url)
    last_errors = current_app.config.setdefault(LAST_ERRORS, {})
    results = await asyncio.gather(
        *(_timed(name, check, last_errors) for name, check in checks.items())
    )
    components = dict(zip(checks, results, strict=True))
    components["events"] = {
        "status": "ok" if services.hub.connected else "degraded",
        "latency_ms": None,  # a listener, not a request: connected or not
        **_last(services.hub.last_error),
    }
    ready = all(c["status"] == "ok" for name, c in components.items() if name != "events")
    status = "error" if not ready else components["events"]["status"]
    body = {"status": status, "components": components}
    return Response(json.dumps(body), status=200 if ready else 503, content_type="application/json")


@blueprint.get("/metrics")
async def prometheus() -> Response:
    services = current_app.config["LMS_SERVICES"]
    payload = await asyncio.to_thread(metrics.render, services.settings)
    return Response(payload, content_type="text/plain; version=0.0.4; charset=utf-8")
