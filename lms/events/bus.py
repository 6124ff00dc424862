"""The event bus: small JSON events from workers and API processes to live subscribers.

On RabbitMQ events go to the topic exchange `lms.events.keyed` with routing key
`<topic>.<key>` (topics in `lms.events.topics`); each listener binds its queue only for the
keys it is asked for, so an API process receives only what its clients subscribed to. On
the embedded filesystem transport, kombu keeps topic bindings in each process's memory, so
routing could not cross processes there: events go to the fanout exchange `lms.events` and
the receiving process dispatches by key itself.

Events of one topic sent together (a worker's RUNNING and SUCCEEDED of several jobs, a
burst's QUEUED events) go as one group message (`publish_event_group`): routed by its first
key, with the others in the `BCC` header, so RabbitMQ routes and delivers it once per queue;
the listener passes on only the events of keys it bound.

Events are fire-and-forget: the durable record is in the database (`job_events`, progress
rows); the bus only makes it live. A listener reconnects after a broker restart with
bounded backoff, redeclares its queue and restores every binding.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

import amqp
from amqp import spec as amqp_spec
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.pools import producers
from kombu.serialization import dumps

from lms.config import Settings, get_settings
from lms.events.topics import ANY, TOPICS, Topic
from lms.jobs import publishing
from lms.jobs.broker import broker_connection_args
from lms.observability import tracing
from lms.observability.metrics import BUS_RECONNECTS

log = logging.getLogger(__name__)
KEYED_EXCHANGE = Exchange("lms.events.keyed", type="topic", durable=True, auto_delete=False)
FANOUT_EXCHANGE = Exchange("lms.events", type="fanout", durable=True, auto_delete=False)
EVERYTHING = "#"  # the binding of a listener that wants every topic and key
BACKOFF_START, BACKOFF_MAX = 0.5, 10.0  # seconds between reconnect attempts
TRANSIENT_DELIVERY = 1  # AMQP delivery mode of `delivery_mode="transient"`
POLL_SECONDS = 0.05  # how long a binding change may wait for the listener thread
POLL_INBOUND_SECONDS = 0.5  # how often a publishing channel reads what the broker sent
GROUP_MAX = 100  # events in one group message: its BCC header stays a few KB
_connections: dict[tuple[str, str], Connection] = {}
_kept = threading.local()  # `producer`: (pool, pid, producer) of a thread that keeps one
_lock = threading.Lock()

Callback = Callable[[Topic, dict[str, Any]], None]


def event_exchange(settings: Settings) -> Exchange:
    return FANOUT_EXCHANGE if settings.broker_is_filesystem else KEYED_EXCHANGE


def _connection(settings: Settings, **kwargs: Any) -> Connection:
    url, options = broker_connection_args(settings)
    # Events are fire-and-forget (the database holds the record): no publisher confirms.
    options = {key: value for key, value in options.items() if key != "confirm_publish"}
    return Connection(url, transport_options=options, connect_timeout=5, **kwargs)


def _shared_connection(settings: Settings) -> Connection:
    key = (settings.broker_url, str(settings.var_dir))
    with _lock:
        if key not in _connections:
            _connections[key] = _connection(settings)
        return _connections[key]


def publish_event(
    topic: Topic | str,
    data: dict[str, Any],
    settings: Settings | None = None,
    *,
    keep_producer: bool = False,
) -> None:
    """Publish one event; a broker hiccup is logged, never raised (the DB has the record).

    `keep_producer`: the calling thread publishes often and lives long (a worker's job
    writer thread): it keeps one producer of the pool instead of taking and returning one
    per event."""
    topic = TOPICS[topic] if isinstance(topic, str) else topic
    _publish_body(topic, topic.key_of(data), {"data": data}, settings, keep_producer)


def publish_event_run(
    topic: Topic,
    run: list[dict[str, Any]],
    settings: Settings | None = None,
    *,
    keep_producer: bool = False,
) -> None:
    """Publish events of one topic and key, in order, as one message: a fast job's RUNNING
    and SUCCEEDED, written before the first was sent (lms.jobs.writer). The listener hands
    them to its callback one by one, as if they had come apart."""
    if len(run) == 1:
        publish_event(topic, run[0], settings, keep_producer=keep_producer)
    elif run:
        _publish_body(topic, topic.key_of(run[0]), {"events": run}, settings, keep_producer)


def publish_event_group(
    topic: Topic,
    events: list[dict[str, Any]],
    settings: Settings | None = None,
    *,
    keep_producer: bool = False,
) -> None:
    """Publish events of one topic, in order, whatever their keys, in messages of up to
    `GROUP_MAX` events: a burst's QUEUED events, a worker's RUNNING and SUCCEEDED of several
    jobs. On RabbitMQ a message carries its other keys in the `BCC` header (sender-selected
    distribution): it reaches each queue bound to any of its keys once, and the listener
    passes on only the events of keys it asked for. One publish, one routing and one
    delivery per listener instead of one per event."""
    for start in range(0, len(events), GROUP_MAX):
        part = events[start : start + GROUP_MAX]
        keys = list(dict.fromkeys(topic.key_of(data) for data in part))
        if len(keys) == 1:
            publish_event_run(topic, part, settings, keep_producer=keep_producer)
            continue
        also = [topic.routing_key(key) for key in keys[1:]]
        content = {"events": part, "mixed": True}
        _publish_body(topic, keys[0], content, settings, keep_producer, also)


def _publish_body(
    topic: Topic,
    key: str,
    content: dict[str, Any],
    settings: Settings | None,
    keep_producer: bool,
    also: list[str] | None = None,
) -> None:
    """`also`: more routing keys the message goes to (its `BCC` header)."""
    settings = settings or get_settings()
    if publishing.broker_down(settings.broker_url):  # each try would wait out its retries
        return
    body: dict[str, Any] = {"topic": topic.name, "key": key, **content}
    if tracing.active():  # sent within a traced request or job: the event joins its trace
        with tracing.span(f"event {topic.name}", kind="PRODUCER"):
            body["traceparent"] = tracing.current_traceparent()
            _publish_one(body, topic, key, settings, keep_producer, also)
    else:
        _publish_one(body, topic, key, settings, keep_producer, also)


def _publish_one(
    body: dict[str, Any],
    topic: Topic,
    key: str,
    settings: Settings,
    keep: bool = False,
    also: list[str] | None = None,
) -> None:
    exchange = event_exchange(settings)
    keyed = exchange is KEYED_EXCHANGE
    if keep and keyed and _publish_kept(body, topic, key, settings, also):
        return
    try:
        with producers[_shared_connection(settings)].acquire(block=True, timeout=5) as producer:
            if keyed and _publish_plain(producer, body, topic, key, also):
                return
            producer.publish(
                body,
                exchange=exchange,
                routing_key=topic.routing_key(key),
                declare=[exchange],
                serializer="json",
                delivery_mode="transient",
                headers={"BCC": also} if also and keyed else None,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1},
            )
    except Exception as error:
        log.warning("event bus publish failed for topic %s", topic.name, exc_info=True)
        if isinstance(error, (OSError, KombuOperationalError, _Unreachable)):  # broker away:
            publishing.mark_down(settings.broker_url)  # the next events skip its retries


def _publish_kept(
    body: dict[str, Any], topic: Topic, key: str, settings: Settings, also: list[str] | None
) -> bool:
    """Publish on this thread's own producer (False: not sent, publish the usual way)."""
    pool = producers[_shared_connection(settings)]
    kept = getattr(_kept, "producer", None)
    if kept is not None and (kept[0] is not pool or kept[1] != os.getpid()):
        _drop_kept()  # another broker, or inherited across a fork
        kept = None
    if kept is None:
        try:
            kept = _kept.producer = (pool, os.getpid(), pool.acquire(block=True, timeout=5))
        except Exception:  # noqa: BLE001 - the usual way reports it
            return False
    try:
        if _publish_plain(kept[2], body, topic, key, also):
            return True
    except _Unreachable as error:  # kombu retried the connection already: do not again
        _drop_kept()
        log.warning("event bus publish failed for topic %s: %s", topic.name, error.__cause__)
        publishing.mark_down(settings.broker_url)
        return True
    _drop_kept()  # its connection may be gone: the usual way reconnects
    return False


def _drop_kept() -> None:
    kept = getattr(_kept, "producer", None)
    _kept.producer = None
    if kept is not None and kept[1] == os.getpid():
        try:
            kept[2].release()
        except Exception:  # noqa: BLE001 - a broken producer is simply let go
            log.debug("could not release a kept bus producer", exc_info=True)


class _EventMessage(amqp.Message):
    """A bus event as `producer.publish(serializer="json", delivery_mode="transient")`
    sends it. Every event has the same properties, so their wire bytes are built once
    (py-amqp builds them per message: a fifth of a publish's CPU)."""

    _wire: bytes | None = None

    def __init__(self, payload: bytes, also: list[str] | None = None) -> None:
        super().__init__(
            payload,
            priority=0,
            content_type="application/json",
            content_encoding="utf-8",
            application_headers={"BCC": also} if also else {},
            delivery_mode=TRANSIENT_DELIVERY,
        )
        self._also = also

    def _serialize_properties(self) -> bytes:
        if self._also:  # a group's other keys: properties of its own
            return super()._serialize_properties()
        wire = _EventMessage._wire
        if wire is None:
            wire = _EventMessage._wire = super()._serialize_properties()
        return wire


def _json(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body).encode()  # the same text kombu's encoder writes
    except TypeError:  # a datetime, UUID or Decimal: kombu's encoder knows those
        return dumps(body, serializer="json")[2].encode()


def _poll_now_and_then(channel) -> None:
    """Read what the broker sent this connection (a channel or connection close, a
    `connection.blocked`), as py-amqp does before every publish, but at most every
    `POLL_INBOUND_SECONDS`: the read costs more than the publish. A closed channel then
    shows within that time, and the publish goes the full way."""
    now = time.monotonic()
    if now - getattr(channel, "_lms_polled_at", 0.0) < POLL_INBOUND_SECONDS:
        return
    channel._lms_polled_at = now
    try:
        channel.connection.drain_events(timeout=0)
    except socket.timeout:  # nothing waiting
        pass


class _Unreachable(Exception):
    """The broker could not be connected to (after kombu's own retries)."""


def _publish_plain(
    producer, body: dict[str, Any], topic: Topic, key: str, also: list[str] | None = None
) -> bool:
    """The same message as `producer.publish` writes, straight to the producer's channel:
    a worker publishes one per job transition, and kombu's per-call work (the retry
    wrapper, copying the exchange for `declare`, property handling) cost more CPU than the
    frame itself. False if it failed (the caller then publishes the full way, which
    reconnects and retries); `_Unreachable` if no connection could be made (kombu has
    retried that for seconds already: the full way would only wait as long again)."""
    try:
        channel = producer.channel
    except (OSError, KombuOperationalError) as error:
        raise _Unreachable() from error
    try:
        if not getattr(channel, "_lms_events_declared", False):  # once per channel, as
            KEYED_EXCHANGE(channel).declare()  # `maybe_declare` would
            channel._lms_events_declared = True
        if not channel.connection:
            raise ConnectionError("bus channel closed")
        _poll_now_and_then(channel)
        channel.send_method(
            amqp_spec.Basic.Publish,
            "Bssbb",
            (0, KEYED_EXCHANGE.name, topic.routing_key(key), False, False),
            _EventMessage(_json(body), also),
        )
    except Exception:  # noqa: BLE001 - the full path below retries and reports
        log.debug("plain bus publish failed; publishing with retries", exc_info=True)
        return False
    return True


def publish_events(
    topic: Topic, payloads: list[dict[str, Any]], settings: Settings | None = None
) -> None:
    """Publish many events of one topic on one producer (a fan-out's per-user events)."""
    publish_batches([(topic, payloads)], settings)


def publish_batches(
    batches: list[tuple[Topic, list[dict[str, Any]]]], settings: Settings | None = None
) -> None:
    """Publish events of several topics, in order, on one producer (a transaction's events):
    the pool, the declaration and the retry wrapper are paid once, not per event."""
    settings = settings or get_settings()
    exchange = event_exchange(settings)
    plain = exchange is KEYED_EXCHANGE  # a fan-out's 10,000 events: 3x less CPU each
    topic = batches[0][0] if batches else None
    try:
        with producers[_shared_connection(settings)].acquire(block=True, timeout=5) as producer:
            producer.maybe_declare(exchange)
            for topic, payloads in batches:
                for data in payloads:
                    key = topic.key_of(data)
                    body = {"topic": topic.name, "key": key, "data": data}
                    if plain and _publish_plain(producer, body, topic, key):
                        continue
                    producer.publish(
                        body,
                        exchange=exchange,
                        routing_key=topic.routing_key(key),
                        serializer="json",
                        delivery_mode="transient",
                    )
    except Exception:
        log.warning("event bus publish failed for topic %s", topic and topic.name, exc_info=True)
        publishing.mark_down(settings.broker_url)


class EventListener:
    """Consumes bus events in a background thread and passes them to `callback`.

    `routes=None` receives every event (tools, tests); otherwise only the `(topic, key)`
    pairs given here or later through `bind`. `connected` is set while the queue consumes;
    `on_connect(reconnected)` runs in the listener thread after each (re)connection.
    """

    def __init__(
        self,
        callback: Callback,
        settings: Settings | None = None,
        *,
        name: str | None = None,
        routes: Iterable[tuple[Topic, str]] | None = None,
        on_connect: Callable[[bool], None] | None = None,
    ) -> None:
        self.callback = callback
        self.settings = settings or get_settings()
        self.on_connect = on_connect
        self.exchange = event_exchange(self.settings)
        # A stable name lets a restarted process reuse its queue on the filesystem broker.
        self.queue_name = name or f"lms.events.{socket.gethostname()}.{uuid.uuid4().hex[:8]}"
        self.ready = threading.Event()  # set at the first connection
        self.connected = threading.Event()
        self.last_error: tuple[str, float] | None = None  # (what, time.time()) for /readyz
        self._wanted: set[str] = (
            {EVERYTHING} if routes is None else {t.routing_key(k) for t, k in routes}
        )
        self._waiting: list[Future] = []
        self._dirty = True  # wanted bindings changed since the last sync
        self._changes = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-listener", daemon=True)

    @property
    def keyed(self) -> bool:
        return not self.settings.broker_is_filesystem

    def start(self) -> EventListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def bind(self, topic: Topic, key: str = ANY) -> Future:
        """Receive `topic` events for `key`; the future resolves once the broker has the
        binding (at once while disconnected: the binding is restored on reconnect)."""
        return self._change(lambda wanted: wanted.add(topic.routing_key(key)))

    def unbind(self, topic: Topic, key: str = ANY) -> Future:
        return self._change(lambda wanted: wanted.discard(topic.routing_key(key)))

    def _change(self, edit: Callable[[set[str]], None]) -> Future:
        done: Future = Future()
        with self._changes:
            edit(self._wanted)
            self._dirty = True
            if self.keyed and self.connected.is_set():
                self._waiting.append(done)
                return done
        done.set_result(False)
        return done

    def _on_message(self, body: dict[str, Any], message) -> None:
        try:
            topic = TOPICS.get(body.get("topic", ""))
            if topic is not None and (traceparent := body.get("traceparent")):
                # The subscribers' side of an event sent within a trace: that trace's span.
                with tracing.span(
                    f"event {topic.name} received", traceparent=traceparent, kind="CONSUMER"
                ):
                    self._dispatch(topic, body)
            elif topic is not None:
                self._dispatch(topic, body)
        except Exception:
            log.exception("event callback failed")
        finally:
            message.ack()

    def _dispatch(self, topic: Topic, body: dict[str, Any]) -> None:
        if "events" in body:  # a run of one key's events, or a group's (publish_event_group)
            # A group reached us for one of its keys: pass on only the keys we bound.
            chosen = body.get("mixed") and self.keyed and EVERYTHING not in self._wanted
            for data in body["events"]:
                if chosen and not self._wants(topic, data or {}):
                    continue
                try:
                    self.callback(topic, data or {})
                except Exception:  # the next events of the run still count
                    log.exception("event callback failed")
        else:
            self.callback(topic, body.get("data") or {})

    def _wants(self, topic: Topic, data: dict[str, Any]) -> bool:
        wanted = self._wanted  # membership tests only: safe beside a change on another thread
        return topic.routing_key(topic.key_of(data)) in wanted or topic.routing_key(ANY) in wanted

    def _run(self) -> None:
        delay, reconnected = BACKOFF_START, False
        while not self._stop.is_set():
            try:
                with _connection(self.settings, heartbeat=10) as connection:
                    connection.connect()
                    self._consume(connection, reconnected)
                    return
            except Exception as error:  # noqa: BLE001 - broker restarts are expected
                if self.connected.is_set():
                    delay = BACKOFF_START  # a fresh loss: retry soon
                self.connected.clear()
                self.last_error = (f"{type(error).__name__}: {error}", time.time())
                self._release_waiting()
                # Subscriptions may exist that missed events (even before a first connection).
                reconnected = True
                # One line per attempt, with bounded backoff and jitter (many API processes).
                wait = delay * random.uniform(0.8, 1.2)
                log.warning(
                    "event bus disconnected (%s: %s); reconnecting in %.1f s",
                    type(error).__name__,
                    error,
                    wait,
                )
                self._stop.wait(wait)
                delay = min(delay * 2, BACKOFF_MAX)

    def _consume(self, connection: Connection, reconnected: bool) -> None:
        channel = connection.channel()
        queue = Queue(
            self.queue_name,
            self.exchange if not self.keyed else None,
            exclusive=self.keyed,
            auto_delete=True,
            durable=False,
            channel=channel,
        )
        if self.keyed:
            self.exchange(channel).declare()
        queue.declare()
        if not self.keyed:
            queue.purge()  # events queued while this process was away are stale
        bound: set[str] = set()
        with connection.Consumer(
            queue, callbacks=[self._on_message], accept=["json"], channel=channel
        ):
            self.connected.set()  # first, so binds asked for meanwhile wait for this sync
            self._sync(queue, bound, force=True)
            self.ready.set()
            log.log(
                logging.WARNING if reconnected else logging.INFO,
                "event bus %s (queue %s, %d bindings)",
                "reconnected" if reconnected else "connected",
                self.queue_name,
                len(bound),
            )
            if reconnected:
                BUS_RECONNECTS.inc()
            if self.on_connect is not None:
                self.on_connect(reconnected)
            while not self._stop.is_set():
                self._sync(queue, bound)
                connection.heartbeat_check()
                try:
                    connection.drain_events(timeout=POLL_SECONDS)
                except TimeoutError:
                    continue
        self.connected.clear()
        if not self.keyed:
            queue.delete()

    def _sync(self, queue: Queue, bound: set[str], *, force: bool = False) -> None:
        """Make the broker's bindings of `queue` match the wanted ones (after a change)."""
        if not self.keyed or not (force or self._dirty):
            return
        with self._changes:
            wanted, waiting, self._dirty = set(self._wanted), list(self._waiting), False
        for routing_key in wanted - bound:
            queue.bind_to(self.exchange, routing_key)
            bound.add(routing_key)
        for routing_key in bound - wanted:
            queue.unbind_from(self.exchange, routing_key)
            bound.discard(routing_key)
        # Only now: if a bind failed, `_release_waiting` answers these after the loss.
        with self._changes:
            self._waiting = [done for done in self._waiting if done not in waiting]
        for done in waiting:
            done.set_result(True)

    def _release_waiting(self) -> None:
        with self._changes:
            waiting, self._waiting = self._waiting, []
        for done in waiting:
            if not done.done():
                done.set_result(False)
