"""Writes that may land a moment after the caller moves on: one FIFO thread per process.

A worker's final `succeed` write and the bus events of its transitions go here, so the
next job does not wait for their round trips. Their order is kept (one thread). A lost
success write (the process died first) leaves the lease to expire and the reaper to run
the job again (tasks are idempotent); a lost bus event only delays a live view, the
stored `job_events` row is written with its transition.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
# Past this backlog a caller writes itself: the thread must never fall minutes behind.
MAX_PENDING = 1000

_pending: queue.SimpleQueue | None = None
_owner: tuple[int, threading.Thread] | None = None
_lock = threading.Lock()


def submit(write: Callable[[], object]) -> None:
    """Run `write()` soon, in order with the other submitted writes."""
    pending = _started()
    if pending.qsize() >= MAX_PENDING:
        _run_one(write)
        return
    pending.put(write)


def flush(timeout: float = 10.0) -> bool:
    """Wait until everything submitted so far is written (False on timeout)."""
    if _owner is None or _owner[0] != os.getpid() or _pending is None:
        return True
    done = threading.Event()
    _pending.put(done.set)
    return done.wait(timeout)


def _started() -> queue.SimpleQueue:
    global _pending, _owner
    owner = _owner
    if owner is not None and owner[0] == os.getpid() and owner[1].is_alive():
        return _pending
    with _lock:
        # A forked child inherits neither the thread nor (usefully) the parent's backlog.
        if _owner is None or _owner[0] != os.getpid() or not _owner[1].is_alive():
            _pending = queue.SimpleQueue()
            thread = threading.Thread(
                target=_loop, args=(_pending,), name="job-writer", daemon=True
            )
            thread.start()
            _owner = (os.getpid(), thread)
    return _pending


def _loop(pending: queue.SimpleQueue) -> None:
    while True:
        _run_one(pending.get())


def _run_one(write: Callable[[], object]) -> None:
    try:
        write()
    except Exception:  # noqa: BLE001 - see the module docstring for what covers a lost write
        log.warning("deferred job write failed", exc_info=True)


atexit.register(flush)
