"""Email by preference, as batched jobs on a real worker: exactly once, one-click
unsubscribe, URGENT system messages, digests and quiet hours, fan-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.service import cancel_job
from lms.notifications.models import Notification, NotificationDelivery
from lms.notifications.service import notify_many
from lms.notifications.service.delivery import release_due, send_emails, settle_abandoned
from lms.users.models import Role, User
from tests.notifications.conftest import delivery, emails_to
from tests.notifications.test_notifications_inbox import produce
from tests.support import create_user

PREFS = """mutation($i: UpdateNotificationPreferencesInput!) {
  updateNotificationPreferences(input: $i) { type email push inApp digest urgent } }"""
GET_PREFS = """{ getNotificationPreferences { email push inApp quietHours { start end }
  types { type email digest urgent } vapidPublicKey } }"""
DELIVERIES = """query($id: ID!) { getNotification(id: $id) {
  deliveries { channel status digest notBefore errorCode } } }"""


def statuses(api, token, notification_id) -> dict:
    found = api.data(DELIVERIES, {"id": str(notification_id)}, token)["getNotification"]
    return {d["channel"]: d for d in found["deliveries"]}


def test_an_email_goes_out_once_with_a_one_click_unsubscribe(api, worker, watcher):
    user, token = create_user(Role.STUDENT)
    first = produce(user.id, title="Essay graded: A-", link="https://app.test/grades/1")
    watcher.wait(delivery(first).job_id)
    [message] = emails_to(user.email)
    assert message["Subject"] == "Essay graded: A-"
    assert "https://app.test/grades/1" in message.get_body(("plain",)).get_content()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert statuses(api, token, first)["EMAIL"]["status"] == "SENT"

    # A re-run of the delivery job finds it sent: no second email.
    sent = delivery(first)
    assert send_emails(sent.job_id, get_settings()) == {"sent": 0}
    assert len(emails_to(user.email)) == 1

    # The mail client's one-click POST (RFC 8058) switches this type's email off.
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith(get_settings().public_url)
    link = urlsplit(url)  # the API of this test runs on its own port
    answer = httpx.post(
        f"{api.base_url}{link.path}?{link.query}", data={"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200
    types = {
        t["type"]: t
        for t in api.data(GET_PREFS, token=token)["getNotificationPreferences"]["types"]
    }
    assert types["GRADE_POSTED"]["email"] is False and types["REPLY"]["email"] is True
    later = produce(user.id, title="Essay 2 graded")
    skipped = statuses(api, token, later)["EMAIL"]
    assert (skipped["status"], skipped["errorCode"]) == ("SKIPPED", "PREFERENCE")
    assert statuses(api, token, later)["IN_APP"]["status"] == "DELIVERED"


def test_urgent_system_messages_pass_switched_off_channels(api, worker, watcher):
    user, token = create_user(Role.STUDENT)
    api.data(PREFS, {"i": {"channels": {"email": False, "inApp": False}}}, token)
    assert api.error_codes(
        PREFS, {"i": {"preferences": [{"type": "SYSTEM", "urgent": False}]}}, token
    ) == ["URGENT_SYSTEM_REQUIRED"]
    normal = produce(user.id, type="SYSTEM", title="Maintenance on Sunday")
    urgent = produce(user.id, type="SYSTEM", title="Password leak: change it", priority="URGENT")
    assert statuses(api, token, normal)["EMAIL"]["status"] == "SKIPPED"
    assert statuses(api, token, normal)["IN_APP"]["status"] == "SKIPPED"
    watcher.wait(delivery(urgent).job_id)
    assert statuses(api, token, urgent)["EMAIL"]["status"] == "SENT"
    assert [m["Subject"] for m in emails_to(user.email)] == ["Password leak: change it"]
    listing = api.data("{ getUserNotifications { nodes { title } } }", token=token)
    assert [n["title"] for n in listing["getUserNotifications"]["nodes"]] == [
        "Password leak: change it"
    ]


def test_bad_preferences_are_refused_with_nothing_written(api):
    _, token = create_user(Role.STUDENT)
    bad = {
        "preferences": [{"type": "REPLY", "email": False}],
        "quietHours": {"start": "25:00", "end": "07:00"},
    }
    assert api.error_codes(PREFS, {"i": bad}, token) == ["INVALID_QUIET_HOURS"]
    unknown = {"preferences": [{"type": "NOPE", "email": False}]}
    assert api.error_codes(PREFS, {"i": unknown}, token) == ["GRAPHQL_VALIDATION_FAILED"]
    prefs = api.data(GET_PREFS, token=token)["getNotificationPreferences"]
    assert all(t["email"] for t in prefs["types"]) and prefs["quietHours"] is None
    assert prefs["vapidPublicKey"]


def test_a_daily_digest_groups_the_window_into_one_email(api, worker, watcher):
    user, token = create_user(Role.STUDENT)
    api.data(PREFS, {"i": {"preferences": [{"type": "ANNOUNCEMENT", "digest": "DAILY"}]}}, token)
    ids = [produce(user.id, type="ANNOUNCEMENT", title=f"Week {n} is online") for n in (1, 2)]
    urgent = produce(user.id, type="ANNOUNCEMENT", title="Exam moved", priority="URGENT")
    held = [statuses(api, token, i)["EMAIL"] for i in ids]
    assert {(d["status"], d["digest"]) for d in held} == {("QUEUED", "DAILY")}
    due = datetime.fromisoformat(held[0]["notBefore"])
    assert due > datetime.now(UTC) and due.hour == 8  # 08:00 in the user's zone (UTC)
    watcher.wait(delivery(urgent).job_id)  # URGENT skips the digest
    assert [m["Subject"] for m in emails_to(user.email)] == ["Exam moved"]

    with session_scope() as session:  # the scheduled sweep, run at the window's end
        assert release_due(session, now=due - timedelta(minutes=1)) == 0
    with session_scope() as session:
        assert release_due(session, now=due + timedelta(seconds=1)) >= 2
    watcher.wait(delivery(ids[0]).job_id)
    digest = [m for m in emails_to(user.email) if "digest" in m["Subject"]]
    assert len(digest) == 1 and digest[0]["Subject"].endswith("2 new notifications")
    text = digest[0].get_body(("plain",)).get_content()
    assert "Week 1 is online" in text and "Week 2 is online" in text
    assert {statuses(api, token, i)["EMAIL"]["status"] for i in ids} == {"SENT"}


def test_quiet_hours_hold_email_but_not_in_app(api, worker, watcher):
    user, token = create_user(Role.STUDENT)
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    window = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    api.data(PREFS, {"i": {"quietHours": window}}, token)
    assert api.data(GET_PREFS, token=token)["getNotificationPreferences"]["quietHours"] == window
    quiet = produce(user.id, type="REPLY", title="New reply in your thread")
    held = statuses(api, token, quiet)
    assert held["IN_APP"]["status"] == "DELIVERED" and held["EMAIL"]["status"] == "QUEUED"
    opens = datetime.fromisoformat(held["EMAIL"]["notBefore"])
    assert opens.strftime("%H:%M") == window["end"] and opens > now
    urgent = produce(user.id, type="REPLY", title="Urgent reply", priority="URGENT")
    watcher.wait(delivery(urgent).job_id)
    with session_scope() as session:
        release_due(session, now=opens + timedelta(seconds=1))
    watcher.wait(delivery(quiet).job_id)
    assert statuses(api, token, quiet)["EMAIL"]["status"] == "SENT"
    assert {m["Subject"] for m in emails_to(user.email)} == {
        "Urgent reply",
        "New reply in your thread",
    }


def test_deliveries_of_a_cancelled_sending_job_fail_instead_of_waiting_for_ever(
    api, worker, watcher
):
    user, token = create_user(Role.STUDENT)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    api.data(PREFS, {"i": {"quietHours": window}}, token)
    held = produce(user.id, type="REPLY", title="A reply in quiet hours")
    opens = datetime.fromisoformat(statuses(api, token, held)["EMAIL"]["notBefore"])
    # The window ends, its sending job is queued, and an operator cancels that job.
    with session_scope() as session:
        release_due(session, now=opens + timedelta(seconds=1))
        job_id = session.scalar(
            select(NotificationDelivery.job_id).where(NotificationDelivery.notification_id == held)
        )
        cancel_job(session, job_id)
    assert statuses(api, token, held)["EMAIL"]["status"] == "QUEUED"
    with session_scope() as session:  # the scheduled sweep
        assert settle_abandoned(session) >= 1
    email = statuses(api, token, held)["EMAIL"]
    assert (email["status"], email["errorCode"]) == ("FAILED", "DELIVERY_ABANDONED")
    assert emails_to(user.email) == []


def test_a_deleted_accounts_deliveries_go_with_its_notifications(api):
    # Deliveries keep no key to users of their own: the notification's cascade removes them.
    user, token = create_user(Role.STUDENT)
    api.data(PREFS, {"i": {"preferences": [{"type": "ANNOUNCEMENT", "digest": "DAILY"}]}}, token)
    held = produce(user.id, type="ANNOUNCEMENT", title="Week 1 is online")
    assert statuses(api, token, held)["EMAIL"]["status"] == "QUEUED"
    with session_scope() as session:
        session.execute(delete(User).where(User.id == user.id))
    with session_scope() as session:
        left = select(func.count()).select_from(NotificationDelivery)
        assert session.scalar(left.where(NotificationDelivery.user_id == user.id)) == 0
        assert session.get(Notification, held) is None


def test_an_announcement_fans_out_as_one_job_in_batches(api, worker, watcher):
    students = [create_user(Role.STUDENT)[0] for _ in range(30)]
    ids = [s.id for s in students]
    spec = {"type": "ANNOUNCEMENT", "title": "Welcome to week 1", "key": "announcement:w1"}
    with session_scope() as session:
        job_id = notify_many(session, user_ids=ids, **spec)
    assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    with session_scope() as session:
        job_id = notify_many(session, user_ids=ids, **spec)  # the producer retried
    assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    with session_scope() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id.in_(ids), Notification.idempotency_key == "announcement:w1")
        )
    assert count == 30
    email_jobs = {delivery(n).job_id for n in _notification_ids(ids, "announcement:w1")}
    assert len(email_jobs) == 1  # 30 emails, one delivery job
    watcher.wait(email_jobs.pop())
    assert all(len(emails_to(s.email)) == 1 for s in students)


def _notification_ids(user_ids, key):
    with session_scope() as session:
        return session.scalars(
            select(Notification.id).where(
                Notification.user_id.in_(user_ids), Notification.idempotency_key == key
            )
        ).all()
