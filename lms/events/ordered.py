"""A transaction's live events, published after it commits, in order, from one thread.

Services of several domains (communication, notifications) add events to the session as
they change things; at commit the whole transaction's events go to one background thread in
a single hand-off (`after_commit(..., inline=True)`: no wait behind the job publishes of
other commits), which sends them on one producer. One thread keeps every event in commit
order (a read mark after the message it reads), and a request never waits on the broker.
Rolled-back transactions publish nothing. The bus is fire-and-forget: the database holds
the record.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from lms.events.bus import publish_batches
from lms.events.topics import Topic
from lms.jobs.service import after_commit

_PENDING = "lms.events.pending"
_executor: tuple[int, ThreadPoolExecutor] | None = None
_lock = threading.Lock()

Batches = list[tuple[Topic, list[dict[str, Any]]]]


def _thread() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        # A forked child (a worker's pool process) inherits the object but not its thread.
        if _executor is None or _executor[0] != os.getpid():
            _executor = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="bus-events"))
        return _executor[1]


def publish_after_commit(session: Session, topic: Topic, payloads: list[dict[str, Any]]) -> None:
    """Publish `payloads` on `topic` once this session's transaction has committed."""
    if not payloads:
        return
    pending: Batches | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        after_commit(session, lambda: _send(session.info.pop(_PENDING, pending)), inline=True)
    pending.append((topic, payloads))


def publish_soon(topic: Topic, payloads: list[dict[str, Any]]) -> Future | None:
    """Ephemeral events (presence, typing): nothing to commit first."""
    return _send([(topic, payloads)]) if payloads else None


def _send(batches: Batches) -> Future:
    return _thread().submit(publish_batches, batches)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # as the job outbox: only the outermost rollback
        session.info.pop(_PENDING, None)
