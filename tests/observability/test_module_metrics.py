"""The modules' metrics on `/metrics`: websocket connections and subscriptions by topic
(the API object driven over ASGI in-process), the relay's republished count, and a worker
process's deliveries added in from the shared metrics folder."""

from __future__ import annotations

import asyncio
import json
import uuid

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs import publishing
from lms.jobs.service import enqueue, relay_unpublished
from lms.observability.multiprocess import directory_families
from lms.users.models import Role
from tests.observability.test_metrics import samples
from tests.support import JobWatcher, create_user, start_worker
from web.app import create_app

SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {"query": "subscription { jobEvents { jobId status } }"},
}


class Socket:
    """A graphql-transport-ws client speaking ASGI to the app itself."""

    def __init__(self, app) -> None:
        self.incoming: asyncio.Queue = asyncio.Queue()
        self.outgoing: asyncio.Queue = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [(b"sec-websocket-protocol", b"graphql-transport-ws")],
            "subprotocols": ["graphql-transport-ws"],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "scheme": "ws",
        }
        self.task = asyncio.create_task(app(scope, self.incoming.get, self.outgoing.put))

    async def send(self, message: dict) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict:
        event = await asyncio.wait_for(self.outgoing.get(), 30)
        return json.loads(event["text"]) if event["type"] == "websocket.send" else event

    async def close(self) -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 30)


def enqueue_noop() -> None:
    with session_scope() as session:
        enqueue(session, "system.noop")


async def scrape(client) -> dict:
    response = await client.get("/metrics")
    return samples((await response.get_data()).decode())


async def test_websocket_connections_and_subscriptions_by_topic_are_gauged():
    _, token = create_user(Role.ADMIN)
    app = create_app(get_settings())
    async with app.quart.test_app() as test_app:
        client = test_app.test_client()
        socket = Socket(app)
        await socket.incoming.put({"type": "websocket.connect"})
        assert (await socket.receive())["type"] == "websocket.accept"
        await socket.send({"type": "connection_init", "payload": {"Authorization": token}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.send(SUBSCRIBE)
        # The server registers the subscription asynchronously: enqueue until events flow.
        first = asyncio.ensure_future(socket.receive())
        while not first.done():
            await asyncio.to_thread(enqueue_noop)
            await asyncio.wait({first}, timeout=0.5)
        assert first.result()["type"] == "next"
        open_ = await scrape(client)
        await socket.close()
        closed = await scrape(client)
    assert open_[("lms_websocket_connections", ())] == 1
    assert open_[("lms_subscriptions", (("topic", "job"),))] == 1
    assert closed[("lms_websocket_connections", ())] == 0


def test_the_relay_counts_what_it_republishes():
    dead_broker = get_settings().model_copy(
        update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}
    )
    with session_scope() as session:  # committed, never published: the relay's work
        enqueue(session, "system.noop", settings=dead_broker)
    assert publishing.flush()  # its after-commit publish failed and released the claim
    app_before = _served()
    relayed = relay_unpublished(older_than=0)
    assert relayed >= 1
    counted = ("lms_relay_republished_total", ())
    assert _served()[counted] == app_before[counted] + relayed


def _served() -> dict:
    from web.metrics import render

    return samples(render(get_settings()).decode())


DASHBOARD = "{ jobDashboard { workers { hostname state heartbeatAt } } }"


async def test_a_worker_reports_its_heartbeat_and_its_deliveries_reach_the_apis_metrics():
    settings = get_settings()
    _, token = create_user(Role.ADMIN)
    worker = start_worker("email")
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                payload = {
                    "to": f"someone-{uuid.uuid4().hex[:8]}@example.com",
                    "template": "notification",
                    "context": {
                        "name": "Ada",
                        "title": "Hi",
                        "body": "",
                        "link": "",
                        "unsubscribe_url": "x",
                    },
                }
                job_id = enqueue(session, "email.send", payload=payload).id
            done = watcher.wait(job_id)
            assert done["status"] == "SUCCEEDED", (done, worker.output[-3000:])
        app = create_app(settings)
        async with app.quart.test_app() as test_app:  # the operator console's query
            response = await test_app.test_client().post(
                "/graphql", json={"query": DASHBOARD}, headers={"Authorization": f"Bearer {token}"}
            )
            workers = (await response.get_json())["data"]["jobDashboard"]["workers"]
    finally:
        worker.stop()
    online = [w for w in workers if w["state"] == "ONLINE"]
    assert online and all(w["heartbeatAt"] for w in online)  # written by the worker itself
    scraped = _served()  # the API's /metrics, rendered in this process
    sent = ("lms_deliveries_total", (("channel", "email"), ("outcome", "sent")))
    assert scraped[sent] >= 1
    written = {  # by the worker process, in the shared folder
        (s.name, tuple(sorted(s.labels.items())))
        for family in directory_families(settings.metrics_dir)
        for s in family.samples
    }
    assert sent in written
