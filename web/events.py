"""Fans bus events out to this process's subscriptions, by topic and key.

One `EventListener` thread per API process receives only the keys that some subscription
here asked for: the first subscriber of a key binds it on the broker, the last one to
leave unbinds it. Dispatch looks up `(topic, key)` and `(topic, ANY)` in a dict, so an
event costs work for the subscribers of its key only. Each subscription gets its own
bounded asyncio queue, so a slow client only loses its own oldest events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from lms.config import Settings
from lms.events.bus import EventListener
from lms.events.topics import ANY, Topic, routing_word
from lms.observability.metrics import SUBSCRIPTIONS

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
BIND_SECONDS = 5.0  # a subscription waits this long for its binding, then goes on anyway
RECONNECTED = object()  # put on every queue after the bus reconnects: events may be missed

Slot = tuple[str, str]


class EventHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subscribers: dict[Slot, set[asyncio.Queue]] = {}
        self._binding: dict[Slot, asyncio.Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: EventListener | None = None
        self._inbox: collections.deque[tuple[str, str, EventView]] = collections.deque()
        self._drain_scheduled = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = EventListener(
            self._from_thread, self.settings, routes=(), on_connect=self._on_connect
        ).start()
        await asyncio.to_thread(self._listener.ready.wait, 15)

    async def stop(self) -> None:
        if self._listener is not None:
            await asyncio.to_thread(self._listener.stop)

    @property
    def connected(self) -> bool:
        return self._listener is not None and self._listener.connected.is_set()

    @property
    def last_error(self) -> tuple[str, float] | None:
        """The listener's latest disconnect: what happened, and when (epoch seconds)."""
        return self._listener.last_error if self._listener is not None else None

    def _from_thread(self, topic: Topic, data: dict[str, Any]) -> None:
        key = topic.key_of(data)
        subscribed = self._subscribers  # a read from another thread: at worst one stale miss
        if self._loop is not None and (
            (topic.name, key) in subscribed or (topic.name, ANY) in subscribed
        ):
            # One wake-up of the loop per batch: events that arrive while the loop is busy
            # wait in the inbox and are dispatched together by the one `_drain` scheduled.
            self._inbox.append((topic.name, key, EventView(data)))
            if not self._drain_scheduled:
                self._drain_scheduled = True
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False  # first: an event appended from now on schedules again
        inbox = self._inbox
        while inbox:
            self._dispatch(*inbox.popleft())

    def _dispatch(self, name: str, key: str, event: EventView) -> None:
        for slot in ((name, key), (name, ANY)):
            for queue in self._subscribers.get(slot, ()):
                _put(queue, event)

    def _on_connect(self, reconnected: bool) -> None:
        if reconnected and self._loop is not None:
            self._loop.call_soon_threadsafe(self._resync)

    def _resync(self) -> None:
        for queues in self._subscribers.values():
            for queue in queues:
                _put(queue, RECONNECTED)

    @contextlib.asynccontextmanager
    async def listen(self, topic: Topic, key: str = ANY) -> AsyncIterator[asyncio.Queue]:
        """A queue of `topic` events for `key` (`ANY`: every key), bound once this returns.

        Besides events the queue may hold `RECONNECTED`; `stream` handles it."""
        slot = (topic.name, key if key == ANY else routing_word(key))  # as `key_of` makes it
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        queues = self._subscribers.setdefault(slot, set())
        if not queues and self._listener is not None:
            bound = asyncio.wrap_future(self._listener.bind(topic, slot[1]))
            self._binding[slot] = bound
        queues.add(queue)
        SUBSCRIPTIONS.labels(topic.name).inc()
        try:
            if slot in self._binding:
                # Later subscribers of the key wait for the same binding as the first one.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._binding[slot]), BIND_SECONDS)
                self._binding.pop(slot, None)
            yield queue
        finally:
            SUBSCRIPTIONS.labels(topic.name).dec()
            queues.discard(queue)
            if not queues and self._subscribers.get(slot) is queues:
                del self._subscribers[slot]
                self._binding.pop(slot, None)
                if self._listener is not None:
                    self._listener.unbind(topic, slot[1])

    async def stream(
        self,
        topic: Topic,
        key: str = ANY,
        *,
        current: Callable[[], Awaitable[Any]] | None = None,
    ) -> AsyncIterator[Any]:
        """Events of `topic` for `key`. With `current` (the present state, e.g. progress),
        that state comes first and again after a bus reconnect, so nothing stays missed."""
        async with self.listen(topic, key) as queue:
            if current is not None:
                yield await current()
            while True:
                event = await queue.get()
                if event is not RECONNECTED:
                    yield event
                elif current is not None:
                    yield await current()


def _put(queue: asyncio.Queue, item: Any) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


class EventView(dict):
    """A camelCase bus payload that Ariadne's snake_case field resolvers can read.

    The schema is built with `convert_names_case`, so a field `queueName` is looked up as
    `queue_name`; this looks up the payload's own key instead. Nothing is renamed or copied.
    """

    def get(self, name: str, default: Any = None) -> Any:
        value = super().get(name, _MISSING)
        if value is _MISSING:
            value = super().get(_camel(name), default)
        if isinstance(value, dict) and not isinstance(value, EventView):
            return EventView(value)
        if isinstance(value, list):
            return [EventView(item) if isinstance(item, dict) else item for item in value]
        return value


_MISSING = object()


@functools.lru_cache(maxsize=1024)
def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
