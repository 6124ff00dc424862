"""Property: whatever the order, duplication and delay of one purchase's Stripe events, the
end state is the same: enrolled exactly once, or (fully refunded) refunded and revoked.

The handlers run in process on the test database, each event in its own transaction, with
no delivery-level de-duplication in front: replays must be harmless by themselves.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lms.courses.models import Course
from lms.db import session_scope
from lms.enrollments.models import Enrollment
from lms.payments.models import Payment, PaymentKind, PaymentStatus
from lms.payments.service.handling import EventNotReady, handle_event
from lms.users.models import Role
from tests.payments.support import event, paid_course
from tests.support import create_user

PRICE = 5000


def _purchase() -> tuple[uuid.UUID, uuid.UUID, str, str]:
    teacher, _ = create_user(Role.EDUCATOR)
    student, _ = create_user(Role.STUDENT)
    course = uuid.UUID(paid_course(teacher.id, price=PRICE))
    session_id, intent = f"cs_{uuid.uuid4().hex}", f"pi_{uuid.uuid4().hex}"
    with session_scope() as session:
        payment = Payment(
            kind=PaymentKind.COURSE,
            user_id=student.id,
            course_id=course,
            amount=PRICE,
            currency="USD",
            stripe_checkout_session_id=session_id,
        )
        session.add(payment)
        session.flush()
        return payment.id, course, session_id, intent


def _session(session_id, payment_id, intent, paid: bool) -> dict:
    return {
        "id": session_id,
        "object": "checkout.session",
        "client_reference_id": str(payment_id),
        "amount_total": PRICE,
        "currency": "usd",
        "payment_intent": intent,
        "payment_status": "paid" if paid else "unpaid",
        "status": "complete",
    }


def _refund(refund_id, intent, amount, status) -> dict:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "usd",
        "payment_intent": intent,
        "status": status,
        "metadata": {},
    }


def _stream(payment_id, session_id, intent, *, asynchronous: bool, refunds: list[int]):
    if asynchronous:
        events = [
            event("checkout.session.completed", _session(session_id, payment_id, intent, False)),
            event(
                "checkout.session.async_payment_succeeded",
                _session(session_id, payment_id, intent, True),
            ),
        ]
    else:
        events = [
            event("checkout.session.completed", _session(session_id, payment_id, intent, True))
        ]
    for amount in refunds:
        refund_id = f"re_{uuid.uuid4().hex}"
        events.append(event("refund.created", _refund(refund_id, intent, amount, "pending")))
        events.append(event("refund.updated", _refund(refund_id, intent, amount, "succeeded")))
    return events


def _run(events: list[dict]) -> None:
    """Handle each event; one whose object is not known yet goes to the back of the line."""
    line = deque(events)
    delays = 0
    while line:
        current = line.popleft()
        try:
            with session_scope() as session:
                handle_event(session, current, fetch=False)
        except EventNotReady:
            delays += 1
            assert delays < 10 * len(events), "an event never became ready"
            line.append(current)


def _final(payment_id, course_id):
    with session_scope() as session:
        payment = session.get(Payment, payment_id)
        rows = session.scalars(select(Enrollment).where(Enrollment.course_id == course_id)).all()
        count = session.scalar(select(Course.enrollment_count).where(Course.id == course_id))
        return payment.status, payment.refunded_amount, payment.revoked_at, rows, count


refund_plans = st.one_of(
    st.just([]),
    st.just([PRICE]),
    st.just([PRICE // 2]),
    st.just([PRICE // 2, PRICE - PRICE // 2]),
    st.just([1000, 1500]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asynchronous=st.booleans(),
    refunds=refund_plans,
    data=st.data(),
)
def test_any_order_duplicates_and_delays_reach_the_same_end_state(asynchronous, refunds, data):
    payment_id, course_id, session_id, intent = _purchase()
    events = _stream(payment_id, session_id, intent, asynchronous=asynchronous, refunds=refunds)
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=len(events) * 2))
    order = data.draw(st.permutations(events + repeats))
    _run(order)

    status, refunded, revoked_at, enrollments, count = _final(payment_id, course_id)
    assert len(enrollments) == 1 and count == 1  # fulfilled exactly once
    if sum(refunds) >= PRICE:
        assert (status, refunded) == (PaymentStatus.REFUNDED, PRICE)
        assert revoked_at is not None and enrollments[0].status == "DROPPED"
    else:
        expected = PaymentStatus.PARTIALLY_REFUNDED if refunds else PaymentStatus.PAID
        assert (status, refunded) == (expected, sum(refunds))
        assert revoked_at is None and enrollments[0].status == "ACTIVE"


def _handle_together(start: threading.Barrier, current: dict) -> None:
    start.wait()
    with session_scope() as session:
        handle_event(session, current, fetch=False)


def test_two_payment_events_handled_at_the_same_moment_enroll_once():
    for _ in range(5):
        payment_id, course_id, session_id, intent = _purchase()
        twins = [
            event("checkout.session.completed", _session(session_id, payment_id, intent, True)),
            event(
                "checkout.session.async_payment_succeeded",
                _session(session_id, payment_id, intent, True),
            ),
        ]
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_handle_together, [start, start], twins))  # re-raises any error
        status, _, _, enrollments, count = _final(payment_id, course_id)
        assert status == PaymentStatus.PAID
        assert len(enrollments) == 1 and count == 1
