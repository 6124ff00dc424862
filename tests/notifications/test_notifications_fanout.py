"""One fan-out job decides each recipient's channels from their own choices (the set-wise
statement on PostgreSQL), and each live event carries that recipient's new unread count."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from lms.db import session_scope
from lms.events.bus import EventListener
from lms.events.topics import NOTIFICATION_RECEIVED
from lms.notifications.models import Notification
from lms.notifications.service import notify_many
from lms.users.models import Role
from tests.notifications.conftest import delivery, emails_to
from tests.notifications.test_notifications_delivery import PREFS, statuses
from tests.notifications.test_notifications_inbox import produce
from tests.support import create_user

LIST = "{ getUserNotifications { nodes { title } } }"


class Received:
    """`notificationReceived` events of some users, as a live subscriber gets them."""

    def __init__(self, user_ids) -> None:
        self.events: dict[str, dict] = {}
        self._changed = threading.Condition()
        routes = [(NOTIFICATION_RECEIVED, str(u)) for u in user_ids]
        self.listener = EventListener(self._on_event, routes=routes)

    def _on_event(self, topic, data: dict) -> None:
        with self._changed:
            self.events[data["userId"]] = data
            self._changed.notify_all()

    def wait_for(self, user_ids, timeout: float = 30) -> dict[str, dict]:
        wanted = {str(u) for u in user_ids}
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= set(self.events) and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            return dict(self.events)


def test_a_fan_out_follows_each_recipients_choices(api, worker, watcher):
    (plain, plain_token), (no_email, no_email_token), (no_in_app, no_in_app_token) = (
        create_user(Role.STUDENT) for _ in range(3)
    )
    (digest, digest_token), (quiet, quiet_token) = (create_user(Role.STUDENT) for _ in range(2))
    off = {"preferences": [{"type": "ANNOUNCEMENT", "email": False}]}
    api.data(PREFS, {"i": off}, no_email_token)
    api.data(PREFS, {"i": {"channels": {"inApp": False}}}, no_in_app_token)
    daily = {"preferences": [{"type": "ANNOUNCEMENT", "digest": "DAILY"}]}
    api.data(PREFS, {"i": daily}, digest_token)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    api.data(PREFS, {"i": {"quietHours": window}}, quiet_token)
    produce(plain.id, title="Essay graded")  # already one unread before the announcement
    everyone = [plain, no_email, no_in_app, digest, quiet]
    received = Received([u.id for u in everyone])
    received.listener.start()
    assert received.listener.ready.wait(15)
    key = f"announcement:{uuid.uuid4()}"
    gone = uuid.uuid4()  # an account deleted since the announcement: skipped, not a failure

    with session_scope() as session:
        job_id = notify_many(
            session,
            user_ids=[u.id for u in everyone] + [gone],
            type="ANNOUNCEMENT",
            title="Week 2 is online",
            key=key,
        )
    try:
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        shown = [plain, no_email, digest, quiet]
        events = received.wait_for([u.id for u in shown])
    finally:
        received.listener.stop()
    assert {u: events[str(u.id)]["unreadCount"] for u in (plain, no_email, digest, quiet)} == {
        plain: 2,
        no_email: 1,
        digest: 1,
        quiet: 1,
    }
    assert all(events[str(u.id)]["title"] == "Week 2 is online" for u in shown)

    with session_scope() as session:
        ids = dict(
            session.execute(
                select(Notification.user_id, Notification.id).where(
                    Notification.idempotency_key == key
                )
            ).all()
        )
    assert set(ids) == {u.id for u in everyone}
    mine = {
        user.id: statuses(api, token, ids[user.id])
        for user, token in (
            (plain, plain_token),
            (no_email, no_email_token),
            (no_in_app, no_in_app_token),
            (digest, digest_token),
            (quiet, quiet_token),
        )
    }
    assert mine[no_email.id]["EMAIL"]["status"] == "SKIPPED"
    assert mine[no_email.id]["EMAIL"]["errorCode"] == "PREFERENCE"
    assert mine[no_in_app.id]["IN_APP"]["status"] == "SKIPPED"
    assert api.data(LIST, token=no_in_app_token)["getUserNotifications"]["nodes"] == []
    held = mine[digest.id]["EMAIL"]
    assert (held["status"], held["digest"]) == ("QUEUED", "DAILY")
    assert datetime.fromisoformat(held["notBefore"]).hour == 8  # 08:00 in the user's zone
    waits = mine[quiet.id]["EMAIL"]
    assert waits["status"] == "QUEUED" and waits["digest"] is None
    assert datetime.fromisoformat(waits["notBefore"]).strftime("%H:%M") == window["end"]
    assert all(mine[u.id]["IN_APP"]["status"] == "DELIVERED" for u in shown)

    for user in (plain, no_in_app):  # the instant emails, in the fan-out's sending job
        assert watcher.wait(delivery(ids[user.id]).job_id)["status"] == "SUCCEEDED"
    announced = "Week 2 is online"
    assert [m["Subject"] for m in emails_to(no_in_app.email)] == [announced]
    assert announced in [m["Subject"] for m in emails_to(plain.email)]
    assert all(emails_to(u.email) == [] for u in (no_email, digest, quiet))
