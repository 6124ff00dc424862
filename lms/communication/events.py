"""Live Communication events, published only after the change commits.

Each topic is keyed (recipient, thread, course or typing scope), so an event costs work only
in the API processes and for the subscriptions that watch that key. Events go out from one
background thread with the rest of their transaction's events, in order
(`lms.events.ordered`), so a request never waits on the broker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.events.ordered import publish_after_commit, publish_soon
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
    publish_after_commit(session, topic, payloads)


def publish_now(topic: Topic, payloads: list[dict[str, Any]]) -> None:
    """Ephemeral events (presence, typing): nothing to commit first."""
    publish_soon(topic, payloads)
