"""Queue depth and consumer count straight from the broker — no management plugin.

On AMQP a passive `queue_declare` answers both (and creates nothing). The filesystem
transport of the embedded default counts its message files; it cannot know consumers,
so `consumers` is None there and the dashboard takes them from worker inspection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from amqp.exceptions import NotFound as AmqpNotFound
from kombu import Connection

from lms.config import Settings, get_settings
from lms.jobs.broker import broker_connection_args
from lms.jobs.queues import QUEUES

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 3


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    messages: int | None  # None when the broker could not be asked
    consumers: int | None  # None when the transport cannot tell
    exists: bool = True
    error: str | None = None


def _connection(settings: Settings) -> Connection:
    url, options = broker_connection_args(settings)
    return Connection(url, transport_options=options, connect_timeout=CONNECT_TIMEOUT)


def queue_depths(
    queues: tuple[str, ...] | list[str] = QUEUES, settings: Settings | None = None
) -> dict[str, QueueDepth]:
    """Depth and consumers of each queue; a broker that is down yields `error` per queue."""
    settings = settings or get_settings()
    try:
        with _connection(settings) as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
            if settings.broker_is_filesystem:
                channel = connection.default_channel
                return {q: QueueDepth(q, channel._size(q), None) for q in queues}
            return {q: _passive_declare(connection, q) for q in queues}
    except Exception as error:  # noqa: BLE001 - the dashboard shows the broker as unreachable
        log.warning("broker stats unavailable", exc_info=True)
        message = f"broker unreachable: {type(error).__name__}"
        return {q: QueueDepth(q, None, None, exists=False, error=message) for q in queues}


def _passive_declare(connection: Connection, queue: str) -> QueueDepth:
    # A failed passive declare closes its channel, so each queue gets its own.
    channel = connection.channel()
    try:
        _name, messages, consumers = channel.queue_declare(queue=queue, passive=True)
        return QueueDepth(queue, messages, consumers)
    except AmqpNotFound:
        return QueueDepth(queue, 0, 0, exists=False)
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - already closed by the broker
            pass


def purge_queue(queue: str, settings: Settings | None = None) -> int:
    """Remove every waiting message of `queue`; the number removed."""
    settings = settings or get_settings()
    with _connection(settings) as connection:
        connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        channel = connection.channel()
        try:
            return channel.queue_purge(queue) or 0
        finally:
            channel.close()
