"""The event bus: a kombu fanout exchange over the job broker.

Workers and API processes publish small JSON events (`{"topic": ..., "data": ...}`); every
listening API process receives every event and hands it to its own subscribers, so a
worker's progress reaches a browser connected to any API process. Events are fire-and-
forget: the durable record is in the database (`job_events`), the bus only makes it live.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.pools import producers

from lms.config import Settings, get_settings
from lms.jobs import publishing
from lms.jobs.broker import broker_connection_args

log = logging.getLogger(__name__)
EXCHANGE = Exchange("lms.events", type="fanout", durable=True, auto_delete=False)
_connections: dict[tuple[str, str], Connection] = {}
_lock = threading.Lock()


def _connection(settings: Settings) -> Connection:
    url, options = broker_connection_args(settings)
    # Events are fire-and-forget (the database holds the record): no publisher confirms.
    options = {key: value for key, value in options.items() if key != "confirm_publish"}
    return Connection(url, transport_options=options, connect_timeout=5)


def _shared_connection(settings: Settings) -> Connection:
    key = (settings.broker_url, str(settings.var_dir))
    with _lock:
        if key not in _connections:
            _connections[key] = _connection(settings)
        return _connections[key]


def publish_event(topic: str, data: dict[str, Any], settings: Settings | None = None) -> None:
    """Publish one event; a broker hiccup is logged, never raised (the DB has the record)."""
    settings = settings or get_settings()
    if publishing.broker_down(settings.broker_url):  # each try would wait out its retries
        return
    try:
        with producers[_shared_connection(settings)].acquire(block=True, timeout=5) as producer:
            producer.publish(
                {"topic": topic, "data": data},
                exchange=EXCHANGE,
                declare=[EXCHANGE],
                serializer="json",
                delivery_mode="transient",
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1},
            )
    except Exception:  # noqa: BLE001 - live updates must never fail the job itself
        log.warning("event bus publish failed for topic %s", topic, exc_info=True)
        publishing.mark_down(settings.broker_url)


class EventListener:
    """Consumes every bus event in a background thread and passes it to `callback`."""

    def __init__(
        self,
        callback: Callable[[str, dict[str, Any]], None],
        settings: Settings | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.callback = callback
        self.settings = settings or get_settings()
        # A stable name lets a restarted process reuse its queue on the filesystem broker.
        self.queue = Queue(
            name or f"lms.events.{socket.gethostname()}.{uuid.uuid4().hex[:8]}",
            EXCHANGE,
            exclusive=not self.settings.broker_is_filesystem,
            auto_delete=True,
            durable=False,
        )
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-listener", daemon=True)

    def start(self) -> EventListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _on_message(self, body: dict[str, Any], message) -> None:
        try:
            self.callback(body.get("topic", ""), body.get("data") or {})
        except Exception:  # noqa: BLE001 - one bad subscriber must not stop the stream
            log.exception("event callback failed")
        finally:
            message.ack()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with _connection(self.settings) as connection:
                    self.queue.maybe_bind(connection)
                    self.queue.declare()
                    if self.settings.broker_is_filesystem:
                        self.queue.purge()
                    with connection.Consumer(
                        self.queue, callbacks=[self._on_message], accept=["json"]
                    ):
                        self.ready.set()
                        while not self._stop.is_set():
                            try:
                                connection.drain_events(timeout=0.5)
                            except TimeoutError:
                                continue
                            except socket.timeout:
                                continue
                    if self.settings.broker_is_filesystem:
                        self.queue.delete()
            except Exception:  # noqa: BLE001 - reconnect after broker restarts
                log.warning("event listener lost the broker; reconnecting", exc_info=True)
                self._stop.wait(1.0)
