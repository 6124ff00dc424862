"""Fans bus events out to this process's subscriptions.

One `EventListener` thread per API process receives every bus event; each subscription
gets its own bounded asyncio queue, so a slow client only loses its own oldest events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from lms.config import Settings
from lms.events.bus import EventListener

QUEUE_SIZE = 1000


class EventHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subscribers: dict[str, set[asyncio.Queue]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: EventListener | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = EventListener(self._from_thread, self.settings).start()
        await asyncio.to_thread(self._listener.ready.wait, 15)

    async def stop(self) -> None:
        if self._listener is not None:
            await asyncio.to_thread(self._listener.stop)

    def _from_thread(self, topic: str, data: dict[str, Any]) -> None:
        if self._loop is not None and self._subscribers.get(topic):
            self._loop.call_soon_threadsafe(self._dispatch, topic, data)

    def _dispatch(self, topic: str, data: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(topic, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)

    @contextlib.asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
