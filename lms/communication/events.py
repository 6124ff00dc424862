"""Live Communication events, published only after the change commits.

Each topic is keyed (recipient, thread, course or typing scope), so an event costs work only
in the API processes and for the subscriptions that watch that key. Events go out from one
background thread, in order, so a request never waits on the broker.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from lms.events.bus import publish_events
from lms.events.topics import (
    ANNOUNCEMENT_PUBLISHED,
    CONVERSATION_UPDATED,
    DISCUSSION_POST,
    MESSAGE_RECEIVED,
    PRESENCE,
    THREAD_UPDATED,
    TYPING,
    Topic,
)
from lms.jobs.service import after_commit

_publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="communication-events")

__all__ = [
    "ANNOUNCEMENT_PUBLISHED",
    "CONVERSATION_UPDATED",
    "DISCUSSION_POST",
    "MESSAGE_RECEIVED",
    "PRESENCE",
    "THREAD_UPDATED",
    "TYPING",
    "after_commit_publish",
    "publish_now",
]


def after_commit_publish(session: Session, topic: Topic, payloads: list[dict[str, Any]]) -> None:
    if payloads:
        after_commit(session, lambda: _publisher.submit(publish_events, topic, payloads))


def publish_now(topic: Topic, payloads: list[dict[str, Any]]) -> None:
    """Ephemeral events (presence, typing): nothing to commit first."""
    if payloads:
        _publisher.submit(publish_events, topic, payloads)
