"""Writes that may land a moment after the caller moves on: one FIFO thread per process.

A worker's final `succeed` write and the bus events of its transitions go here, so the
next job does not wait for their round trips. Their order is kept (one thread). A lost
success write (the process died first) leaves the lease to expire and the reaper to run
the job again (tasks are idempotent); a lost bus event only delays a live view, the
stored `job_events` row is written with its transition.

Bus events wait here until nothing else is pending (or `MAX_HELD` of them are), and a run
of consecutive events of one topic goes out as one message (`publish_event_group`): a fast
job's RUNNING and SUCCEEDED, and those of the jobs that ran beside it, are one publish, one
routing and one delivery to each listener instead of one each.
An event raised by a write this thread runs (the success's SUCCEEDED) joins the held ones
at once, so it follows its job's RUNNING rather than the queue's later entries.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
# Past this backlog a caller writes itself: the thread must never fall minutes behind.
MAX_PENDING = 1000
MAX_HELD = 64  # bus events held back for coalescing, at most

_pending: queue.SimpleQueue | None = None
_owner: tuple[int, threading.Thread] | None = None
_lock = threading.Lock()
_held: list[_Event] = []  # the writer thread's own


@dataclass(frozen=True)
class _Event:
    topic: Any  # lms.events.topics.Topic
    data: dict[str, Any]
    settings: Any  # lms.config.Settings


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


def submit(write: Callable[[], object]) -> None:
    """Run `write()` soon, in order with the other submitted writes."""
    pending = _started()
    if pending.qsize() >= MAX_PENDING:
        _run_one(write)
        return
    pending.put(write)


def submit_event(topic, data: dict[str, Any], settings) -> None:
    """Publish a bus event soon, after the writes submitted before it."""
    event = _Event(topic, data, settings)
    if _owner is not None and _owner[1] is threading.current_thread():
        _held.append(event)  # raised by a write of ours: next to its job's earlier events
        return
    pending = _started()
    if pending.qsize() >= MAX_PENDING:
        _publish([event])
        return
    pending.put(event)


def flush(timeout: float = 10.0) -> bool:
    """Wait until everything submitted so far is written and sent (False on timeout)."""
    if _owner is None or _owner[0] != os.getpid() or _pending is None:
        return True
    marker = _Flush()
    _pending.put(marker)
    return marker.done.wait(timeout)


def _started() -> queue.SimpleQueue:
    global _pending, _owner
    owner = _owner
    if owner is not None and owner[0] == os.getpid() and owner[1].is_alive():
        return _pending
    with _lock:
        # A forked child inherits neither the thread nor (usefully) the parent's backlog.
        if _owner is None or _owner[0] != os.getpid() or not _owner[1].is_alive():
            _held.clear()
            _pending = queue.SimpleQueue()
            thread = threading.Thread(
                target=_loop, args=(_pending,), name="job-writer", daemon=True
            )
            _owner = (os.getpid(), thread)
            thread.start()
    return _pending


def _loop(pending: queue.SimpleQueue) -> None:
    while True:
        try:
            item = pending.get(block=not _held)
        except queue.Empty:  # nothing more to wait for: send what was held
            _send_held()
            continue
        if isinstance(item, _Event):
            _held.append(item)
        elif isinstance(item, _Flush):
            _send_held()
            item.done.set()
        else:
            _run_one(item)
        if len(_held) >= MAX_HELD:
            _send_held()


def _send_held() -> None:
    held = list(_held)
    _held.clear()
    _publish(held)


def _publish(events: list[_Event]) -> None:
    """Each run of consecutive events of one topic and broker as one group message
    (`publish_event_group`: every job's events of the run, whatever their keys)."""
    from lms.events.bus import publish_event_group

    start = 0
    for end in range(1, len(events) + 1):
        if end < len(events) and _same_group(events[start], events[end]):
            continue
        first = events[start]
        run = [event.data for event in events[start:end]]
        _run_one(lambda: publish_event_group(first.topic, run, first.settings, keep_producer=True))
        start = end


def _same_group(a: _Event, b: _Event) -> bool:
    return (
        a.topic is b.topic
        and a.settings.broker_url == b.settings.broker_url
        and a.settings.var_dir == b.settings.var_dir
    )


def _run_one(write: Callable[[], object]) -> None:
    try:
        write()
    except Exception:  # noqa: BLE001 - see the module docstring for what covers a lost write
        log.warning("deferred job write failed", exc_info=True)


atexit.register(flush)
