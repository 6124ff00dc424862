"""Helpers for payments tests: paid courses, signed Stripe events, a job watcher, documents."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import defaultdict
from typing import Self

from sqlalchemy import select, update

from lms.courses.models import Course
from lms.db import session_scope
from lms.events.bus import EventListener
from lms.jobs.service import JOB_TOPIC
from tests.enrollments.support import make_course

WEBHOOK_SECRET = "whsec_test_lyceum"
HANDLE_JOB = "payments.handle_event"


def paid_course(owner_id, *, price=4900, currency="USD", **options) -> str:
    course = make_course(owner_id, price=price, **options)
    with session_scope() as session:
        session.execute(update(Course).where(Course.id == course.id).values(currency=currency))
    return course.id


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header as Stripe makes it."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def event(kind: str, obj: dict, *, event_id: str | None = None, created: int | None = None):
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def post_event(http, payload: dict, **signing) -> object:
    body = json.dumps(payload).encode()
    return http.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(body, **signing), "Content-Type": "application/json"},
    )


class EventWatcher:
    """Collects job events from the bus; `handled(event_id)` waits for that Stripe event's
    handling job to finish and answers its last status."""

    def __init__(self) -> None:
        self.by_subject: dict[str, list[dict]] = defaultdict(list)
        self._changed = threading.Condition()
        self.listener = EventListener(self._on_event)

    def __enter__(self) -> Self:
        self.listener.start()
        assert self.listener.ready.wait(15), "event bus listener did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.listener.stop()

    def _on_event(self, topic: str, data: dict) -> None:
        if topic == JOB_TOPIC and data.get("kind") == HANDLE_JOB:
            with self._changed:
                self.by_subject[data["subjectId"]].append(data)
                self._changed.notify_all()

    def handled(
        self, event_id: str, timeout: float = 60, statuses=("SUCCEEDED", "FAILED"), times: int = 1
    ):
        """The status of the `times`-th finish of the event's handling (re-handled: 2)."""

        def last():
            found = [e for e in self.by_subject[event_id] if e["status"] in statuses]
            return found[times - 1]["status"] if len(found) >= times else None

        with self._changed:
            self._changed.wait_for(lambda: last() is not None, timeout)
            status = last()
        seen = [e["status"] for e in self.by_subject[event_id]]
        assert status is not None, f"event {event_id} was not handled; job statuses {seen}"
        return status


PAYMENT_FIELDS = """id kind userId courseId amount currency refundedAmount status checkoutUrl
  failureCode enrollmentId paidAt fulfilledAt refunds { id amount status reason }"""
CHECKOUT = f"""mutation($input: CreateCheckoutSessionInput!) {{
  createCheckoutSession(input: $input) {{
  paymentId sessionId url amount currency expiresAt payment {{ {PAYMENT_FIELDS} }} }} }}"""
GET_PAYMENT = f"query($id: ID!) {{ getPayment(id: $id) {{ {PAYMENT_FIELDS} }} }}"
HISTORY = f"""query($input: PaymentHistoryInput) {{ getPaymentHistory(input: $input) {{
  totalCount nodes {{ {PAYMENT_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
ENROLL = """mutation($c: ID!) { enrollInCourse(input: {courseId: $c}) { id status courseId } }"""
MY_ENROLLMENTS = "{ myEnrollments { nodes { id courseId status } } }"
REFUND = """mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
  id paymentId amount currency status reason } }"""
GET_REFUND = "query($id: ID!) { getRefund(id: $id) { id paymentId amount currency status } }"
ELIGIBILITY = """query($e: ID!) { getRefundEligibility(enrollmentId: $e) {
  enrollmentId paymentId eligible reasons { code message } refundableAmount currency deadline
  progressPercent } }"""
SUBSCRIBE = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  id plan status cancelAtPeriodEnd currentPeriodEnd graceUntil grantsAccess } }"""
CANCEL = """mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) {
  id status cancelAtPeriodEnd currentPeriodEnd grantsAccess } }"""
SUBSCRIPTIONS = """{ getUserSubscriptions { id plan status cancelAtPeriodEnd graceUntil
  grantsAccess } }"""
DELIVERIES = """query($o: WebhookOutcome) { paymentWebhookDeliveries(outcome: $o, first: 50) {
  totalCount nodes { id eventId eventType valid outcome error duplicates handledAt source } } }"""


def buy(api, stripe_http, jobs, token, course_id) -> dict:
    """Check out and pay a course; answers the payment once its webhook was handled."""
    checkout = api.data(CHECKOUT, {"input": {"courseId": course_id}}, token)
    session_id = checkout["createCheckoutSession"]["sessionId"]
    paid = stripe_http.post(f"/_test/checkout/{session_id}/pay").json()
    assert jobs.handled(paid["events"][0]["id"]) == "SUCCEEDED"
    payment_id = checkout["createCheckoutSession"]["paymentId"]
    return api.data(GET_PAYMENT, {"id": payment_id}, token)["getPayment"]


def lessons_of(course_id: str) -> list[str]:
    from lms.courses.models import Lesson

    with session_scope() as session:
        rows = session.scalars(
            select(Lesson.id).where(Lesson.course_id == uuid.UUID(course_id))
        ).all()
    return [str(row) for row in rows]
