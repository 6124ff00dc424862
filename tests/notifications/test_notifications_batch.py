"""A fan-out batch on PostgreSQL: each recipient's deliveries planned from their own choices,
the ones that leave now split over sending jobs `LMS_NOTIFICATION_DELIVERY_BATCH` at a time,
each job sending exactly the deliveries that name it, and a re-run adding nothing."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.models import Job
from lms.jobs.service import cancel_job
from lms.notifications.models import Notification, NotificationDelivery, PushSubscription
from lms.notifications.service import Spec, create_batch, notify_many
from lms.notifications.service.delivery import send_emails
from lms.notifications.settings import notifications_settings
from lms.users.models import Role
from tests.notifications.test_notifications_delivery import PREFS
from tests.support import create_user, start_worker


@pytest.fixture
def two_per_job(monkeypatch):
    monkeypatch.setenv("LMS_NOTIFICATION_DELIVERY_BATCH", "2")
    notifications_settings.cache_clear()
    yield
    monkeypatch.undo()
    notifications_settings.cache_clear()


def deliveries_of(key: str) -> list[NotificationDelivery]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(NotificationDelivery)
                .join(Notification, Notification.id == NotificationDelivery.notification_id)
                .where(Notification.idempotency_key == key)
            )
        )


def test_a_batch_splits_what_leaves_over_jobs_that_send_their_own(api, two_per_job):
    users = [create_user(Role.STUDENT) for _ in range(6)]
    (_, no_email_token), (_, digest_token) = users[0], users[1]
    api.data(
        PREFS, {"i": {"preferences": [{"type": "ANNOUNCEMENT", "email": False}]}}, no_email_token
    )
    api.data(
        PREFS, {"i": {"preferences": [{"type": "ANNOUNCEMENT", "digest": "DAILY"}]}}, digest_token
    )
    pushers = [users[1][0], users[2][0], users[3][0]]
    with session_scope() as session:
        for user in pushers:
            session.add(
                PushSubscription(
                    user_id=user.id,
                    endpoint=f"https://push.invalid/{uuid.uuid4()}",
                    p256dh="p" * 87,
                    auth="a" * 22,
                )
            )
    ids = [user.id for user, _ in users]
    key = f"announcement:{uuid.uuid4()}"
    spec = Spec(type="ANNOUNCEMENT", title="Week 3 is online", key=key)

    with session_scope() as session:
        assert create_batch(session, ids + [uuid.uuid4()], spec) == 6  # an unknown id skipped

    rows = deliveries_of(key)
    by_channel = Counter(d.channel.value for d in rows)
    assert by_channel == {"EMAIL": 6, "PUSH": 3}
    email = {d.user_id: d for d in rows if d.channel.value == "EMAIL"}
    assert (email[ids[0]].status.value, email[ids[0]].error_code) == ("SKIPPED", "PREFERENCE")
    assert (email[ids[1]].status.value, email[ids[1]].digest.value) == ("QUEUED", "DAILY")
    assert email[ids[0]].job_id is None and email[ids[1]].job_id is None
    leaving = [d for d in rows if d.job_id is not None]
    assert Counter(d.channel.value for d in leaving) == {"EMAIL": 4, "PUSH": 3}
    assert all(d.status.value == "QUEUED" and d.not_before is None for d in leaving)

    # Two to a job, per channel; each job's payload says how many name it.
    named = Counter(d.job_id for d in leaving)
    with session_scope() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(list(named))))}
    assert sorted(named.values()) == [1, 2, 2, 2]
    assert {job_id: jobs[job_id].payload["deliveries"] for job_id in named} == dict(named)
    assert Counter(jobs[d.job_id].kind for d in leaving) == {
        "email.notifications": 4,
        "notifications.push": 3,
    }

    # The same key again: nobody is notified twice, no delivery or job is added.
    with session_scope() as session:
        assert create_batch(session, ids, spec) == 0
    assert len(deliveries_of(key)) == 9

    # A sending job takes the deliveries that name it, and only those.
    first = next(d.job_id for d in leaving if d.channel.value == "EMAIL")
    assert send_emails(first, get_settings())["sent"] == named[first]
    sent = {d.id for d in deliveries_of(key) if d.status.value == "SENT"}
    assert sent == {d.id for d in leaving if d.job_id == first}
    with session_scope() as session:  # no worker here: nobody else should send the rest
        for job_id in named:
            cancel_job(session, job_id)


def test_a_fan_out_in_batches_stored_two_at_a_time_notifies_each_once(watcher):
    # Batches of 2: seven recipients make four batches, stored two at a time.
    worker = start_worker("notifications", env={"LMS_NOTIFICATION_FANOUT_BATCH": "2"})
    try:
        users = [create_user(Role.STUDENT)[0] for _ in range(7)]
        key = f"announcement:{uuid.uuid4()}"
        with session_scope() as session:
            job_id = notify_many(
                session, user_ids=[u.id for u in users], type="ANNOUNCEMENT", title="Exams", key=key
            )
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    finally:
        worker.stop()
    with session_scope() as session:
        notified = Counter(
            session.scalars(select(Notification.user_id).where(Notification.idempotency_key == key))
        )
        job = session.get(Job, job_id)
        assert (job.progress, job.result) == (1.0, {"recipients": 7, "created": 7})
    assert notified == {u.id: 1 for u in users}
    emails = [d for d in deliveries_of(key) if d.channel.value == "EMAIL"]
    assert len(emails) == 7 and all(d.job_id is not None for d in emails)
    with session_scope() as session:  # no email worker here
        for sending in {d.job_id for d in emails}:
            cancel_job(session, sending)
