"""After-commit publishing, kept off the request path.

The API's event loop hands committed jobs (and their bus events) to a small executor of
their own: the loop's default executor also runs argon2 hashing and the health probe, and a
broker that is down must not starve them. Once a publish fails, publishing pauses for a
moment (`DOWN_SECONDS`): the work stays committed and unpublished, and the outbox relay
sends it when the broker is back, so a dead broker costs each request nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)
# Two threads: one publish may be stuck on a dying connection while the next goes out.
PUBLISH_THREADS = 2
DOWN_SECONDS = 2.0

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_down_until: dict[str, float] = {}  # broker URL -> until when publishing is skipped


def executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="lms-publish")
        return _executor


def submit(fn: Callable[..., object], *args: object) -> Future:
    """Run `fn(*args)` on the publishing threads (never on the loop's default executor)."""
    return executor().submit(fn, *args)


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
