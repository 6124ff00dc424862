"""Handling jobs recorded off the request path: a stored delivery is never lost (a crash
before its relay, a draining queue), relays running at once queue each delivery exactly
once, and the intake survives its database connections being dropped."""

from __future__ import annotations

import json
import threading
import uuid

from sqlalchemy import func, select, text

from lms.db import INTAKE_APPLICATION_NAME, session_scope
from lms.jobs.models import Job, QueueState
from lms.jobs.queues import queue_for
from lms.payments.models import DeliveryOutcome, WebhookDelivery
from lms.payments.service.handling_jobs import relay_stored
from lms.payments.service.webhooks import receive
from lms.users.models import Role
from tests.payments.support import GET_PAYMENT, HANDLE_JOB, event, paid_course, post_event, sign
from tests.payments.test_payments_webhook_order import _enrollments, _open_checkout, _withheld
from tests.support import create_user, start_beat


def _store_as_the_api_does(payload: dict) -> None:
    """Verify and commit a delivery exactly as the endpoint does, then stop: no relay of this
    process runs, which is the state an API process killed right after its commit leaves."""
    body = json.dumps(payload).encode()
    with session_scope() as session:
        receipt = receive(session, body=body, headers={"Stripe-Signature": sign(body)})
    assert receipt.status == 200 and receipt.body == {"received": True, "ignored": False}


def _delivery(event_id: str) -> WebhookDelivery:
    with session_scope() as session:
        return session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id))


def test_a_delivery_stored_before_a_crash_is_queued_by_beat(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id)
    checkout = _open_checkout(shop, token, course)
    paid = _withheld(stripe_http, checkout["sessionId"], "pay")

    _store_as_the_api_does(paid)
    stored = _delivery(paid["id"])
    assert (stored.outcome, stored.job_id) == (DeliveryOutcome.QUEUED, None)

    beat = start_beat()  # its relay round picks up what the dead process left
    try:
        assert jobs.handled(paid["id"]) == "SUCCEEDED"
    finally:
        beat.stop()
    assert _enrollments(shop, token, course) == ["ACTIVE"]
    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert payment["status"] == "PAID" and payment["fulfilledAt"]
    with session_scope() as session:
        handling = session.scalars(
            select(Job.id).where(Job.kind == HANDLE_JOB, Job.subject_id == paid["id"])
        ).all()
    assert handling == [_delivery(paid["id"]).job_id]


def test_relays_at_once_queue_each_stored_delivery_once():
    # Sessions no checkout of ours names: handled, if a worker ever runs them, as no-ops.
    events = [
        event("checkout.session.completed", {"id": f"cs_other_{uuid.uuid4().hex}"})
        for _ in range(40)
    ]
    for payload in events:
        _store_as_the_api_does(payload)
    ids = [e["id"] for e in events]
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def relay() -> None:
        start.wait()
        try:
            relay_stored(batch=3)  # small batches: the four relays contend row by row
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    relays = [threading.Thread(target=relay) for _ in range(4)]
    for thread in relays:
        thread.start()
    for thread in relays:
        thread.join(120)
    assert failures == []
    with session_scope() as session:
        linked = session.scalars(
            select(WebhookDelivery.job_id).where(WebhookDelivery.event_id.in_(ids))
        ).all()
        jobs_per_event = session.execute(
            select(Job.subject_id, func.count())
            .where(Job.kind == HANDLE_JOB, Job.subject_id.in_(ids))
            .group_by(Job.subject_id)
        ).all()
    assert len(linked) == 40 and None not in linked and len(set(linked)) == 40
    assert sorted(jobs_per_event) == sorted((event_id, 1) for event_id in ids)


def test_a_delivery_after_the_database_dropped_the_intake_connections_is_stored(
    shop, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id)
    warm_up = post_event(shop.http, event("customer.created", {"id": "cus_warm"}))
    assert warm_up.status_code == 200  # the intake pool holds a connection now
    with session_scope() as session:  # as a database restart or an idle timeout would
        dropped = session.scalars(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": INTAKE_APPLICATION_NAME},
        ).all()
    assert dropped and all(dropped)

    checkout = _open_checkout(shop, token, course)
    paid = _withheld(stripe_http, checkout["sessionId"], "pay")
    answer = post_event(shop.http, paid)
    assert answer.status_code == 200 and answer.json() == {"received": True, "ignored": False}
    assert jobs.handled(paid["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["ACTIVE"]


def test_a_delivery_while_the_queue_drains_is_stored_and_handled_once_it_resumes(
    shop, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id)
    checkout = _open_checkout(shop, token, course)
    paid = _withheld(stripe_http, checkout["sessionId"], "pay")
    # A first delivery, so the API's relay is up and answers the next one at once (a session
    # no checkout of ours names: handled as a no-op).
    other = event("checkout.session.completed", {"id": f"cs_other_{uuid.uuid4().hex}"})
    assert post_event(shop.http, other).status_code == 200
    assert jobs.handled(other["id"]) == "SUCCEEDED"
    with session_scope() as session:  # an operator drains the queue handling jobs go to
        session.merge(QueueState(queue=queue_for(HANDLE_JOB), draining=True))
    try:
        answer = post_event(shop.http, paid)
        # Stripe gets its 200 at once: the delivery is stored, its job waits for the queue.
        assert answer.status_code == 200 and answer.json() == {"received": True, "ignored": False}
        assert _delivery(paid["id"]).outcome == DeliveryOutcome.QUEUED
    finally:
        with session_scope() as session:
            session.merge(QueueState(queue=queue_for(HANDLE_JOB), draining=False))
    # The API's relay tries again by itself (no other delivery, no beat).
    assert jobs.handled(paid["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["ACTIVE"]
