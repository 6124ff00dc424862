"""Queue topology: one queue per kind of work, so a flood of transcodes never delays a
password-reset email."""

from __future__ import annotations

QUEUES = ("media", "certificates", "email", "notifications", "analytics", "default")
# Long-running queues take one message at a time so a busy worker never hoards work.
LONG_QUEUES = frozenset({"media", "certificates", "analytics"})

_QUEUE_BY_PREFIX = {
    "media": "media",
    "certificates": "certificates",
    "email": "email",
    "notifications": "notifications",
    "analytics": "analytics",
}


def queue_for(kind: str) -> str:
    """The queue a job kind runs on: `email.send` → `email`; unknown prefixes → `default`."""
    return _QUEUE_BY_PREFIX.get(kind.split(".", 1)[0], "default")
