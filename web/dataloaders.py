"""Per-request dataloaders: N `load(key)` calls become one batch per batch function, and the
batches of one moment go to the database together.

graphql-core resolves sibling fields concurrently, so the `modules`, `tags` and
`instructors` of 20 courses are 60 `load()` calls in the same few event-loop turns. The
request's `Loaders` collects the keys until a turn passes with no new ones, then runs every
waiting batch function in ONE call into the database (one session hop, see
`Context.run_sync`) and resolves every future. Results are kept for the rest of the request,
never longer: each request gets a new `Loaders` (see `Context.loaders`), so permissions and
freshness are per request.

A key already read is answered with its value, not a future: graphql-core completes such a
field synchronously (no task, no event-loop turn), which is most fields of a page once the
first level is loaded (`moduleCount`, `lessonCount` and `totalDurationSeconds` share one
read). Resolvers that compute from a loaded value use `then()`.

Batch functions are plain sync functions of the domain layer,
`fn(session, viewer, keys) -> [value per key]` (see `lms/courses/batch.py`); a resolver
returns `info.context.loaders.load(fn, key)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lms.security import Viewer

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
BatchFn = Callable[[Session, Viewer, Sequence[Any]], Sequence[Any]]
RunSync = Callable[[Callable[[Session], Any]], Awaitable[Any]]

# Extra event-loop turns without a new key before the batches go out. Sibling resolvers
# reach `load()` within a turn or so of each other; the catalog query (courses → modules →
# lessons) batched fully with none, two leave margin for resolvers a few awaits deeper.
QUIET_TURNS = 2
MAX_BATCH = 2000
_MISSING = object()


class Loaders:
    """The loaders of one request: values read so far, and the keys waiting for a batch."""

    def __init__(self, run_sync: RunSync, viewer: Viewer) -> None:
        self._run_sync = run_sync
        self._viewer = viewer
        self._values: dict[tuple[BatchFn, Any], Any] = {}
        self._futures: dict[tuple[BatchFn, Any], asyncio.Future] = {}
        self._pending: dict[BatchFn, list[Any]] = {}
        self._requested = 0  # keys ever queued: the quiet-turn watch compares counts
        self._watching = False

    def load(self, fn: BatchFn, key: Any) -> Any:
        """The value of `key` if this request has read it, else a future of it."""
        value = self._values.get((fn, key), _MISSING)
        if value is not _MISSING:
            return value
        future = self._futures.get((fn, key))
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._futures[(fn, key)] = loop.create_future()
            self._pending.setdefault(fn, []).append(key)
            self._requested += 1
            if not self._watching:
                self._watching = True
                loop.call_soon(self._wait_for_quiet, 0, self._requested)
        return future

    async def fetch(self, fn: BatchFn, key: Any) -> Any:
        """The value of `key`, for resolvers that await it among other work."""
        value = self.load(fn, key)
        return await value if isinstance(value, asyncio.Future) else value

    def then(self, fn: BatchFn, key: Any, transform: Callable[[Any], T]) -> T | Awaitable[T]:
        """`transform(value)`, synchronously when the value is known already."""
        value = self.load(fn, key)
        if not isinstance(value, asyncio.Future):
            return transform(value)

        async def later() -> T:
            return transform(await value)

        return later()

    def preload(self, session: Session, fn: BatchFn, keys: Sequence[Any]) -> list[Any]:
        """Inside a read already running (a root resolver reading ahead): the values of
        `keys`, read now for those not known yet and kept for this request's resolvers,
        which then answer without waiting."""
        missing = [key for key in dict.fromkeys(keys) if (fn, key) not in self._values]
        for start in range(0, len(missing), MAX_BATCH):
            chunk = missing[start : start + MAX_BATCH]
            values = fn(session, self._viewer, chunk)
            if len(values) != len(chunk):
                raise RuntimeError(
                    f"batch function returned {len(values)} values for {len(chunk)} keys"
                )
            for key, value in zip(chunk, values, strict=True):
                self._values[(fn, key)] = value
                future = self._futures.pop((fn, key), None)  # a load() that came first
                if future is not None and not future.done():
                    future.set_result(value)
        return [self._values[(fn, key)] for key in keys]

    def _wait_for_quiet(self, quiet: int, seen: int) -> None:
        loop = asyncio.get_running_loop()
        if self._requested > seen:
            loop.call_soon(self._wait_for_quiet, 0, self._requested)
        elif quiet < QUIET_TURNS:
            loop.call_soon(self._wait_for_quiet, quiet + 1, seen)
        else:
            self._watching = False
            batches, self._pending = self._pending, {}
            chunks = [
                (fn, keys[start : start + MAX_BATCH])
                for fn, keys in batches.items()
                for start in range(0, len(keys), MAX_BATCH)
            ]
            loop.create_task(self._dispatch(chunks))

    async def _dispatch(self, chunks: list[tuple[BatchFn, list[Any]]]) -> None:
        viewer = self._viewer

        def run_all(session: Session) -> list[tuple[Sequence[Any] | None, Exception | None]]:
            outcomes: list[tuple[Sequence[Any] | None, Exception | None]] = []
            for fn, keys in chunks:
                try:
                    values = fn(session, viewer, keys)
                    if len(values) != len(keys):
                        raise RuntimeError(
                            f"batch function returned {len(values)} values for {len(keys)} keys"
                        )
                    outcomes.append((values, None))
                except Exception as error:  # noqa: BLE001 - its waiters get it, the rest go on
                    if isinstance(error, DBAPIError):
                        session.rollback()  # the next batch needs a usable transaction
                    outcomes.append((None, error))
            return outcomes

        try:
            outcomes = await self._run_sync(run_all)
        except Exception as error:  # noqa: BLE001 - every waiting resolver gets it, none hangs
            outcomes = [(None, error)] * len(chunks)
        for (fn, keys), (values, error) in zip(chunks, outcomes, strict=True):
            if error is not None:
                for key in keys:
                    future = self._futures.pop((fn, key), None)
                    if future is not None and not future.done():
                        future.set_exception(error)
                continue
            for key, value in zip(keys, values, strict=True):
                self._values.setdefault((fn, key), value)  # a preload may have come first
                future = self._futures.pop((fn, key), None)
                if future is not None and not future.done():
                    future.set_result(value)
