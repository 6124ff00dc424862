"""After-commit publishing, kept off the request path and off the producer's thread.

The API's event loop hands committed jobs (and their bus events) to a small executor of
their own: the loop's default executor also runs argon2 hashing and the health probe, and a
broker that is down must not starve them. Synchronous callers (workers, the CLI) hand it
their jobs' messages too, so their next transaction does not wait for the broker's
confirm. Once a publish fails, publishing pauses for a moment (`DOWN_SECONDS`): the work
stays committed and unpublished, and the outbox relay sends it when the broker is back, so
a dead broker costs each request nothing. A process that dies with publishes pending loses
nothing either: the relay sends what was committed and never published.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)
# Two threads: one publish may be stuck on a dying connection while the next goes out.
PUBLISH_THREADS = 2
DOWN_SECONDS = 2.0

_executor: tuple[int, ThreadPoolExecutor] | None = None
_lock = threading.Lock()
_pending: set[Future] = set()
_down_until: dict[str, float] = {}  # broker URL -> until when publishing is skipped


def executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        # A forked child (a worker's pool process) inherits the object but not its threads.
        if _executor is None or _executor[0] != os.getpid():
            _pending.clear()
            pool = ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="lms-publish")
            _executor = (os.getpid(), pool)
        return _executor[1]


def submit(fn: Callable[..., object], *args: object) -> Future:
    """Run `fn(*args)` on the publishing threads (never on the loop's default executor)."""
    future = executor().submit(fn, *args)
    with _lock:
        _pending.add(future)
    future.add_done_callback(_settled)
    return future


class Batches:
    """Work handed to the publishing threads in batches: what arrives while a batch is
    waiting to start joins it, so many commits' publishes share one broker round trip
    (`deliver(items)` is called with everything added since the last batch began)."""

    def __init__(self, deliver: Callable[[list], object]) -> None:
        self._deliver = deliver
        self._items: list = []
        self._scheduled = False
        self._pid = os.getpid()
        self._guard = threading.Lock()

    def add(self, item: object) -> None:
        with self._guard:
            if self._pid != os.getpid():  # a forked child: the parent sends what it had
                self._items, self._scheduled, self._pid = [], False, os.getpid()
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        submit(self._run)

    def _run(self) -> None:
        with self._guard:
            items, self._items, self._scheduled = self._items, [], False
        if items:
            self._deliver(items)


def _settled(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def flush(timeout: float = 10.0) -> bool:
    """Wait until every publish submitted so far (batches too) has ended (False on timeout)."""
    with _lock:
        waiting = list(_pending)
    return not wait(waiting, timeout).not_done


def broker_down(broker_url: str) -> bool:
    """Whether a publish to this broker failed less than `DOWN_SECONDS` ago (skip: the
    relay will send)."""
    return time.monotonic() < _down_until.get(broker_url, 0.0)


def mark_down(broker_url: str) -> None:
    if not broker_down(broker_url):
        log.warning("broker unreachable: after-commit publishing left to the relay for now")
    _down_until[broker_url] = time.monotonic() + DOWN_SECONDS


def mark_up(broker_url: str) -> None:
    _down_until.pop(broker_url, None)


atexit.register(flush)
