"""Job messages on RabbitMQ in confirm mode, many per broker round trip.

`send_task` with publisher confirms waits for the broker's ack after each message, and its
per-call work (routing, signals, the producer pool, the retry wrapper) costs more CPU than
the frame. Here the same task message (Celery's protocol 2, persistent, the same exchange
and routing key) is written straight to a channel in confirm mode, every message of a batch
first, then the acks are collected: one round trip for the batch. A message counts as sent
only once the broker acked it; a nack, a timeout or a lost connection leaves it unsent (the
caller hands it to the outbox relay).

`KeptChannel` keeps one connection and channel per publishing thread (a thread publishes
after each commit: connecting each time would cost more than the batch), reconnecting once
when a kept connection turns out dead. `publish_once` is for a one-off burst (a fan-out).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from celery.utils.nodenames import anon_nodename
from kombu import Connection
from kombu.serialization import dumps

from lms.config import Settings
from lms.jobs.broker import broker_connection_args, publisher

log = logging.getLogger(__name__)
CONFIRM_TIMEOUT = 30.0
CONNECT_TIMEOUT = 3.0
PERSISTENT = 2  # AMQP delivery mode


@dataclass(frozen=True)
class TaskMessage:
    kind: str  # the task name
    queue: str
    job_id: uuid.UUID
    task_id: str
    traceparent: str | None = None  # a message header, as `send_task(headers=…)` sends it


def connect(settings: Settings) -> Connection:
    url, options = broker_connection_args(settings)
    # Confirms are collected per batch here, not waited for after each message.
    options = {key: value for key, value in options.items() if key != "confirm_publish"}
    return Connection(url, transport_options=options, connect_timeout=CONNECT_TIMEOUT)


class Confirms:
    """Publisher confirms of one channel: delivery tags from 1 on, acked or nacked, several
    at once when `multiple` (every tag up to this one)."""

    def __init__(self) -> None:
        self.state: dict[int, bool] = {}
        self.sent = 0  # the last delivery tag used
        self._low = 1  # every tag below this one is settled

    def next_tag(self) -> int:
        self.sent += 1
        return self.sent

    def settled(self, tags: Sequence[int]) -> bool:
        return all(tag in self.state for tag in tags)

    def take(self, tags: Sequence[int]) -> list[bool]:
        """Whether each tag was acked, forgetting them (a kept channel runs for long)."""
        return [self.state.pop(tag, False) for tag in tags]

    def ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, True)

    def nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, False)

    def _settle(self, tag: int, multiple: bool, ok: bool) -> None:
        if not multiple:
            self.state.setdefault(tag, ok)
            return
        for earlier in range(self._low, tag + 1):
            self.state.setdefault(earlier, ok)
        self._low = max(self._low, tag + 1)


def confirm_channel(connection: Connection, confirms: Confirms):
    channel = connection.channel()
    channel.confirm_select()
    channel.events["basic_ack"].add(confirms.ack)
    channel.events["basic_nack"].add(confirms.nack)
    return channel


_origins: dict[int, str] = {}


def _origin() -> str:
    """The message's `origin` header as Celery writes it (host and pid), built once per
    process."""
    pid = os.getpid()
    if pid not in _origins:
        _origins[pid] = anon_nodename()
    return _origins[pid]


def write(app, channel, message: TaskMessage) -> None:
    """What `send_task` puts on the wire for a job (Celery's task message, protocol 2),
    without its per-call routing, signals and producer bookkeeping."""
    args = [str(message.job_id)]
    task = app.amqp.as_task_v2(
        message.task_id,
        message.kind,
        args=args,
        # What Celery's saferepr would write for these, without its cost (a tenth of a
        # publish's CPU): the arguments are one job id, never long nor nested.
        argsrepr=repr(args),
        kwargsrepr="{}",
        origin=_origin(),
    )
    headers = task.headers
    if message.traceparent:
        headers = {**headers, "traceparent": message.traceparent}
    content_type, encoding, body = dumps(task.body, serializer="json")
    queue = app.amqp.queues[message.queue]
    prepared = channel.prepare_message(
        body,
        priority=0,
        content_type=content_type,
        content_encoding=encoding,
        headers=headers,
        properties={**task.properties, "delivery_mode": PERSISTENT},
    )
    channel.basic_publish(prepared, exchange=queue.exchange.name, routing_key=queue.routing_key)


def publish_batch(
    app, connection: Connection, channel, confirms: Confirms, messages: Sequence[TaskMessage]
) -> tuple[list[bool], Exception | None]:
    """Write every message, then wait for their acks: whether each was acked, and the error
    that ended the wait early (the connection failed, or no ack within `CONFIRM_TIMEOUT`)."""
    tags: list[int] = []
    error: Exception | None = None
    try:
        for message in messages:
            write(app, channel, message)
            tags.append(confirms.next_tag())
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not confirms.settled(tags):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(tags)} publish(es) not confirmed in {CONFIRM_TIMEOUT} s")
            try:
                connection.drain_events(timeout=left)
            except TimeoutError:  # socket.timeout too: the deadline decides
                continue
    except Exception as failure:  # noqa: BLE001 - reported to the caller with what was acked
        error = failure
    acked = confirms.take(tags)
    return acked + [False] * (len(messages) - len(acked)), error


def publish_once(
    settings: Settings, messages: Sequence[TaskMessage]
) -> tuple[list[bool], Exception | None]:
    """`publish_batch` on a connection of its own (a fan-out's burst)."""
    confirms = Confirms()
    try:
        with connect(settings) as connection:
            channel = confirm_channel(connection, confirms)
            return publish_batch(publisher(settings), connection, channel, confirms, messages)
    except Exception as error:  # noqa: BLE001 - no connection: nothing sent
        return [False] * len(messages), error


class KeptChannel:
    """This thread's confirm channel to one broker, kept between batches."""

    _kept = threading.local()  # `channels`: broker URL -> (pid, connection, channel, confirms)

    @classmethod
    def publish(cls, settings: Settings, messages: Sequence[TaskMessage]) -> list[bool]:
        """Whether each message was acked (the others are unsent: the caller leaves them to
        the relay). A kept connection found dead is replaced once."""
        acked = [False] * len(messages)
        if not messages:
            return acked
        app = publisher(settings)  # declares the durable queues once per process
        for attempt in (1, 2):
            todo = [index for index, ok in enumerate(acked) if not ok]
            fresh = True
            try:
                kept, fresh = cls._get(settings)
            except Exception as failure:  # noqa: BLE001 - unreachable broker
                error: Exception | None = failure
            else:
                results, error = publish_batch(
                    app, kept[1], kept[2], kept[3], [messages[index] for index in todo]
                )
                for index, ok in zip(todo, results, strict=True):
                    acked[index] = ok
            if error is None:
                return acked
            cls._drop(settings)
            if fresh or attempt == 2:
                log.warning("job publish failed (%s); the relay sends it", error)
                return acked
            # An idle kept connection the broker closed (a restart, the network): once more
            # on a new one. A message that did reach the broker then goes twice, and the
            # guarded start drops the duplicate.
            log.info("kept broker connection lost (%s); reconnecting", error)
        return acked

    @classmethod
    def _get(cls, settings: Settings) -> tuple[tuple, bool]:
        channels = cls._channels()
        kept = channels.get(settings.broker_url)
        if kept is not None and kept[0] == os.getpid():
            return kept, False
        connection = connect(settings)
        try:
            confirms = Confirms()
            channel = confirm_channel(connection, confirms)
        except Exception:
            connection.release()
            raise
        kept = channels[settings.broker_url] = (os.getpid(), connection, channel, confirms)
        return kept, True

    @classmethod
    def _drop(cls, settings: Settings) -> None:
        kept = cls._channels().pop(settings.broker_url, None)
        if kept is not None and kept[0] == os.getpid():  # never a parent's socket after a fork
            try:
                kept[1].release()
            except Exception:  # noqa: BLE001 - a dead connection is simply let go
                log.debug("could not close a kept broker connection", exc_info=True)

    @classmethod
    def _channels(cls) -> dict:
        channels = getattr(cls._kept, "channels", None)
        if channels is None:
            channels = cls._kept.channels = {}
        return channels
