"""Per-request dataloaders: N `load(key)` calls become one batch, read in its own session.

graphql-core resolves sibling fields concurrently, so the `modules` of 20 courses are 20
`load()` calls in the same few event-loop turns. A loader collects the keys until a turn
passes with no new ones, then runs its batch function once in a fresh, short
`AsyncSession` (graphql-core's concurrency forbids sharing one) and resolves every future.
Results are cached for the rest of the request, never longer: each request gets a new
`Loaders` (see `Context.loaders`), so permissions and freshness are per request.

Batch functions are plain sync functions of the domain layer,
`fn(session, viewer, keys) -> [value per key]` (see `lms/courses/batch.py`); a resolver
uses `info.context.loaders.load(fn, key)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from lms.security import Viewer

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
BatchFn = Callable[[Session, Viewer, Sequence[Any]], Sequence[Any]]

# Extra event-loop turns without a new key before the batch goes out. Sibling resolvers
# reach `load()` within a turn or so of each other; the catalog query (courses → modules →
# lessons) batched fully with none, two leave margin for resolvers a few awaits deeper.
QUIET_TURNS = 2
MAX_BATCH = 2000


class DataLoader(Generic[K, V]):
    def __init__(self, fetch: Callable[[list[K]], Any]) -> None:
        self._fetch = fetch
        self._futures: dict[K, asyncio.Future[V]] = {}
        self._pending: list[K] = []

    def load(self, key: K) -> asyncio.Future[V]:
        future = self._futures.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._futures[key] = loop.create_future()
            self._pending.append(key)
            if len(self._pending) == 1:
                loop.call_soon(self._wait_for_quiet, 0, 1)
        return future

    async def load_many(self, keys: Sequence[K]) -> list[V]:
        return list(await asyncio.gather(*(self.load(key) for key in keys)))

    def _wait_for_quiet(self, quiet: int, seen: int) -> None:
        loop = asyncio.get_running_loop()
        if len(self._pending) > seen:
            loop.call_soon(self._wait_for_quiet, 0, len(self._pending))
        elif quiet < QUIET_TURNS:
            loop.call_soon(self._wait_for_quiet, quiet + 1, seen)
        else:
            keys, self._pending = self._pending, []
            for start in range(0, len(keys), MAX_BATCH):
                loop.create_task(self._dispatch(keys[start : start + MAX_BATCH]))

    async def _dispatch(self, keys: list[K]) -> None:
        try:
            values = await self._fetch(keys)
            if len(values) != len(keys):
                raise RuntimeError(
                    f"batch function returned {len(values)} values for {len(keys)} keys"
                )
        except Exception as error:  # every waiting resolver gets the error, none hangs
            for key in keys:
                future = self._futures.pop(key)
                if not future.done():
                    future.set_exception(error)
            return
        for key, value in zip(keys, values, strict=True):
            future = self._futures[key]
            if not future.done():
                future.set_result(value)


class Loaders:
    """The loaders of one request, created on first use, one per batch function."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], viewer: Viewer) -> None:
        self._sessions = sessions
        self._viewer = viewer
        self._loaders: dict[BatchFn, DataLoader] = {}

    def loader(self, fn: BatchFn) -> DataLoader:
        found = self._loaders.get(fn)
        if found is None:
            found = self._loaders[fn] = DataLoader(lambda keys: self._run(fn, keys))
        return found

    def load(self, fn: BatchFn, key: Any) -> asyncio.Future:
        return self.loader(fn).load(key)

    async def _run(self, fn: BatchFn, keys: list[Any]) -> Sequence[Any]:
        async with self._sessions() as session:
            return await session.run_sync(lambda sync: fn(sync, self._viewer, keys))
