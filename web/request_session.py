"""One database session per HTTP request, used by its resolvers in turn.

A short session per service call and per dataloader batch costs a pool checkout, a
pre-ping, BEGIN and ROLLBACK/COMMIT each: four round trips around every one or two
statements (a catalog page opened six, an authenticated mutation two). A request now
borrows one connection for its calls that follow one another: the viewer's lookup, its
reads and its loaders' batches share one read transaction, and a write commits it (so a
mutation after the viewer's lookup costs one transaction, not two).

The connection goes back to the pool as soon as the request stops using it: after a few
event-loop turns without a call (the loaders' quiet turns plus one), not at the end of the
request. So a request waiting for the CPU behind others holds no connection, and the pool
(10 + 20 overflow) is not churned by requests that hold one while doing something else.

graphql-core runs sibling resolvers concurrently and an AsyncSession refuses concurrent
use, so calls take the session in turn under a lock; their statements run one after
another on one connection, as a hand-written endpoint's would. Websocket subscriptions
live for hours and keep the short sessions (`web.context.Context` without one of these).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from web.dataloaders import QUIET_TURNS

T = TypeVar("T")
IDLE_TURNS = QUIET_TURNS + 1  # a loader batch that follows a read still finds the connection


class RequestSession:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._calls = 0  # calls started: the idle watch compares counts
        self._closing: set[asyncio.Task] = set()

    def _current(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessions()
        return self._session

    async def read(self, call: Callable[[Session], T]) -> T:
        """`call(session)` in the request's read transaction."""
        async with self._lock:
            self._calls += 1
            session = self._current()
            try:
                return await session.run_sync(call)
            except DBAPIError:
                await session.rollback()  # an aborted transaction must not fail the next call
                raise
            finally:
                self._watch_idle()

    async def write(self, call: Callable[[Session], T]) -> T:
        """`call(session)` committed here, at the edge; rolled back when it raises."""
        async with self._lock:
            self._calls += 1
            session = self._current()
            try:
                if session.in_transaction() and (session.dirty or session.new or session.deleted):
                    # A read changed loaded objects in memory (for display): never commit that.
                    await session.rollback()
                try:
                    result = await session.run_sync(call)
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                # Rows read before this write are stale now: later reads load them again.
                session.expunge_all()
                return result
            finally:
                self._watch_idle()

    def _watch_idle(self, turns: int = 0, calls: int | None = None) -> None:
        calls = self._calls if calls is None else calls
        loop = asyncio.get_running_loop()
        if turns < IDLE_TURNS:
            loop.call_soon(self._watch_idle, turns + 1, calls)
        elif calls == self._calls and not self._lock.locked() and self._session is not None:
            session, self._session = self._session, None
            task = loop.create_task(session.close())  # ROLLBACK; the connection is free again
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """End the request: roll back what is left (reads) and return the connection."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
