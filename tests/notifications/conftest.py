"""A worker on the queues notifications use, and a watcher of job events."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from lms.config import get_settings
from lms.db import session_scope
from lms.notifications.models import NotificationChannel, NotificationDelivery
from tests.support import JobWatcher, start_worker


@pytest.fixture(scope="module")
def worker():
    process = start_worker("email,notifications")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


def delivery(notification_id: uuid.UUID, channel=NotificationChannel.EMAIL) -> NotificationDelivery:
    with session_scope() as session:
        return session.scalars(
            select(NotificationDelivery).where(
                NotificationDelivery.notification_id == notification_id,
                NotificationDelivery.channel == channel,
            )
        ).one()


def emails_to(address: str) -> list:
    outbox = Path(get_settings().email_url.removeprefix("outbox:"))
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] and address in message["To"]:
            found.append(message)
    return found
