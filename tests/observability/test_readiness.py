"""`/readyz`: each component with its status, latency and last error; and the event bus
reconnect it reports, counted on `/metrics`. In-process: the API object with its real
database, broker (through a cuttable TCP proxy), storage and Redis."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from lms.config import get_settings
from lms.events.topics import JOB
from tests.observability.tcp_proxy import TcpProxy
from tests.observability.test_metrics import samples
from web.app import create_app
from web.events import RECONNECTED

REDIS_URL = "redis://127.0.0.1:6379/0"
NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def get(client, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status_code, (await response.get_data()).decode()


async def test_ready_lists_every_component_with_its_latency():
    app = create_app(get_settings().model_copy(update={"redis_url": REDIS_URL}))
    async with app.quart.test_app() as test_app:
        status, body = await get(test_app.test_client(), "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ok"
    components = ready["components"]
    assert set(components) == {"database", "broker", "storage", "redis", "events"}
    for name in ("database", "broker", "storage", "redis"):
        assert components[name]["status"] == "ok"
        assert components[name]["latency_ms"] >= 0
        assert components[name]["last_error"] is None
    assert components["events"]["status"] == "ok"


async def test_an_unreachable_redis_makes_the_api_not_ready_and_says_why():
    app = create_app(get_settings().model_copy(update={"redis_url": NO_REDIS}))
    async with app.quart.test_app() as test_app:
        client = test_app.test_client()
        status, body = await get(client, "/readyz")
        liveness, _ = await get(client, "/healthz")
    ready = json.loads(body)
    assert status == 503 and ready["status"] == "error"
    redis = ready["components"]["redis"]
    assert redis["status"] == "error" and "ConnectionError" in redis["last_error"]
    assert redis["last_error_at"]
    assert ready["components"]["database"]["status"] == "ok"
    assert liveness == 200  # Redis is a rate-limit store: alive, just not ready


async def test_an_event_bus_reconnect_is_reported_and_counted():
    settings = get_settings()
    broker = urlsplit(settings.broker_url)
    proxy = TcpProxy((broker.hostname, broker.port or 5672))
    through_proxy = broker._replace(netloc=f"guest:guest@127.0.0.1:{proxy.port}").geturl()
    app = create_app(settings.model_copy(update={"broker_url": through_proxy}))
    try:
        async with app.quart.test_app() as test_app:
            client = test_app.test_client()
            hub = app.quart.config["LMS_SERVICES"].hub
            _, before = await get(client, "/metrics")
            async with hub.listen(JOB) as queue:
                proxy.drop()  # the broker connection breaks under the listener
                # Every subscription is told once the listener is back (see web/events.py).
                assert await asyncio.wait_for(queue.get(), 30) is RECONNECTED
                _, during = await get(client, "/metrics")
            status, body = await get(client, "/readyz")
    finally:
        proxy.close()
    reconnects = ("lms_event_bus_reconnects_total", ())
    assert samples(during)[reconnects] == samples(before)[reconnects] + 1
    assert samples(during)[("lms_subscriptions", (("topic", "job"),))] >= 1
    events = json.loads(body)["components"]["events"]
    assert status == 200 and events["status"] == "ok"
    assert events["last_error"] and events["last_error_at"]  # what happened a moment ago
