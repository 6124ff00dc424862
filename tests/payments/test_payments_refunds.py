"""Refunds by policy: partial and repeated, within the window and under the progress limit;
a full refund revokes the enrollment and its certificate."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from lms.db import session_scope
from lms.enrollments.models import Enrollment
from lms.models import utcnow
from lms.payments import gateway
from lms.payments.models import Payment, Refund
from lms.payments.service.reconcile import reconcile
from lms.payments.service.refunds import begin_refund, send_refund
from lms.security import Viewer
from lms.users.models import Role
from tests.payments.support import (
    ELIGIBILITY,
    GET_PAYMENT,
    GET_REFUND,
    MY_ENROLLMENTS,
    REFUND,
    buy,
    paid_course,
)
from tests.support import create_user

ENROLLMENT = """query($id: ID!) { enrollment(id: $id) { id status
  certificate { id status revokedReason } } }"""
COMPLETE = """mutation($e: ID!, $l: ID!) { completeLesson(enrollmentId: $e, lessonId: $l) {
  enrollment { status progressPercent } } }"""


def _refund(api, token, payment_id, **fields):
    return api.execute(REFUND, {"input": {"paymentId": payment_id, **fields}}, token)


def test_partial_then_full_refund_revokes_the_enrollment(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, stranger = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=10000, currency="USD")
    payment = buy(shop, stripe_http, jobs, token, course)

    eligibility = shop.data(ELIGIBILITY, {"e": payment["enrollmentId"]}, token)
    eligibility = eligibility["getRefundEligibility"]
    assert eligibility["eligible"] is True
    assert (eligibility["refundableAmount"], eligibility["currency"]) == (10000, "USD")
    assert eligibility["deadline"]

    # Someone else's payment: not even confirmed to exist.
    codes = [e["extensions"]["code"] for e in _refund(shop, stranger, payment["id"])["errors"]]
    assert codes == ["PAYMENT_NOT_FOUND"]

    part = _refund(shop, token, payment["id"], amount=3000, reason="changed my mind")
    assert part["data"]["requestRefund"]["status"] == "SUCCEEDED"
    assert part["data"]["requestRefund"]["amount"] == 3000
    after = shop.data(GET_PAYMENT, {"id": payment["id"]}, token)["getPayment"]
    assert (after["status"], after["refundedAmount"]) == ("PARTIALLY_REFUNDED", 3000)
    enrolled = shop.data(MY_ENROLLMENTS, token=token)["myEnrollments"]["nodes"]
    assert [e["status"] for e in enrolled if e["courseId"] == course] == ["ACTIVE"]

    too_much = _refund(shop, token, payment["id"], amount=7001)
    assert too_much["errors"][0]["extensions"]["code"] == "INVALID_REFUND_AMOUNT"
    assert too_much["errors"][0]["extensions"]["refundableAmount"] == 7000

    rest = _refund(shop, token, payment["id"])["data"]["requestRefund"]
    assert (rest["amount"], rest["status"]) == (7000, "SUCCEEDED")
    assert shop.data(GET_REFUND, {"id": rest["id"]}, token)["getRefund"]["amount"] == 7000
    after = shop.data(GET_PAYMENT, {"id": payment["id"]}, token)["getPayment"]
    assert (after["status"], after["refundedAmount"]) == ("REFUNDED", 10000)
    assert sorted(r["amount"] for r in after["refunds"]) == [3000, 7000]
    enrolled = shop.data(MY_ENROLLMENTS, token=token)["myEnrollments"]["nodes"]
    assert [e["status"] for e in enrolled if e["courseId"] == course] == ["DROPPED"]
    again = _refund(shop, token, payment["id"])
    assert again["errors"][0]["extensions"]["code"] == "REFUND_NOT_ELIGIBLE"
    assert shop.error_codes(GET_REFUND, {"id": rest["id"]}, stranger) == ["REFUND_NOT_FOUND"]


def test_the_policy_window_and_progress_limit_apply_to_students_not_admins(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, admin = create_user(Role.ADMIN)
    course = paid_course(teacher.id, price=5000, currency="EUR")
    payment = buy(shop, stripe_http, jobs, token, course)
    enrollment = uuid.UUID(payment["enrollmentId"])

    with session_scope() as session:
        session.execute(
            update(Enrollment).where(Enrollment.id == enrollment).values(progress_percent=55.0)
        )
    answer = shop.data(ELIGIBILITY, {"e": str(enrollment)}, token)["getRefundEligibility"]
    assert answer["eligible"] is False
    assert [r["code"] for r in answer["reasons"]] == ["TOO_MUCH_PROGRESS"]
    refused = _refund(shop, token, payment["id"])["errors"][0]
    assert refused["extensions"]["code"] == "REFUND_NOT_ELIGIBLE"
    assert [r["code"] for r in refused["extensions"]["reasons"]] == ["TOO_MUCH_PROGRESS"]

    with session_scope() as session:
        session.execute(
            update(Payment)
            .where(Payment.id == uuid.UUID(payment["id"]))
            .values(paid_at=utcnow() - timedelta(days=15))
        )
    answer = shop.data(ELIGIBILITY, {"e": str(enrollment)}, token)["getRefundEligibility"]
    assert [r["code"] for r in answer["reasons"]] == ["REFUND_WINDOW_CLOSED", "TOO_MUCH_PROGRESS"]

    # Admins may refund outside the policy.
    done = _refund(shop, admin, payment["id"], amount=1000)["data"]["requestRefund"]
    assert (done["status"], done["currency"]) == ("SUCCEEDED", "EUR")


def test_a_refunded_enrollment_never_keeps_a_certificate(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, admin = create_user(Role.ADMIN)
    course = paid_course(teacher.id, price=3000, currency="USD")
    payment = buy(shop, stripe_http, jobs, token, course)
    from tests.payments.support import lessons_of

    [lesson] = lessons_of(course)
    done = shop.data(COMPLETE, {"e": payment["enrollmentId"], "l": lesson}, token)
    assert done["completeLesson"]["enrollment"]["status"] == "COMPLETED"
    before = shop.data(ENROLLMENT, {"id": payment["enrollmentId"]}, token)["enrollment"]
    assert before["certificate"]["status"] in ("PENDING", "ISSUED")

    full = _refund(shop, admin, payment["id"])["data"]["requestRefund"]
    assert full["status"] == "SUCCEEDED"
    after = shop.data(ENROLLMENT, {"id": payment["enrollmentId"]}, token)["enrollment"]
    assert after["status"] == "DROPPED"
    assert after["certificate"]["status"] == "REVOKED"
    assert after["certificate"]["revokedReason"] == "refunded"


def test_a_refund_that_fails_frees_its_amount_again(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=8000, currency="GBP")
    payment = buy(shop, stripe_http, jobs, token, course)
    refund = _refund(shop, token, payment["id"], amount=2000)["data"]["requestRefund"]
    with session_scope() as session:
        stripe_id = session.scalar(
            select(Refund.stripe_refund_id).where(Refund.id == uuid.UUID(refund["id"]))
        )
    failed = stripe_http.post(f"/_test/refunds/{stripe_id}/fail").json()["events"][0]
    assert jobs.handled(failed["id"]) == "SUCCEEDED"
    assert shop.data(GET_REFUND, {"id": refund["id"]}, token)["getRefund"]["status"] == "FAILED"
    after = shop.data(GET_PAYMENT, {"id": payment["id"]}, token)["getPayment"]
    assert (after["status"], after["refundedAmount"]) == ("PAID", 0)
    answer = shop.data(ELIGIBILITY, {"e": payment["enrollmentId"]}, token)
    assert answer["getRefundEligibility"]["refundableAmount"] == 8000


def test_a_refund_whose_request_never_reached_stripe_is_resent_and_made_once(
    shop, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=10000, currency="USD")
    payment = buy(shop, stripe_http, jobs, token, course)
    viewer = Viewer(student.id, Role.STUDENT)
    # One request's process died before Stripe heard of it; another's answer was lost on
    # the way back, and Stripe's refund.created webhook settles that one.
    with session_scope() as session:
        unsent = begin_refund(session, viewer, input={"payment_id": payment["id"], "amount": 3000})
    with session_scope() as session:
        unanswered = begin_refund(
            session, viewer, input={"payment_id": payment["id"], "amount": 2000}
        )
    made = send_refund(unanswered)
    assert jobs.handled(stripe_event_of("refund.created", made["id"])) == "SUCCEEDED"
    with session_scope() as session:
        session.execute(
            update(Refund)
            .where(Refund.id.in_([unsent.refund_id, unanswered.refund_id]))
            .values(created_at=utcnow() - timedelta(minutes=5))
        )

    assert reconcile()["refunds_resent"] == 1
    assert reconcile()["refunds_resent"] == 0  # nothing is left to resend
    for order in (unsent, unanswered):
        refund = shop.data(GET_REFUND, {"id": str(order.refund_id)}, token)["getRefund"]
        assert (refund["status"], refund["amount"]) == ("SUCCEEDED", order.amount)
    held = gateway.client().v1.refunds.list({"payment_intent": unsent.payment_intent})
    assert sorted(r.metadata["refund_id"] for r in held.data) == sorted(
        [str(unsent.refund_id), str(unanswered.refund_id)]
    )
    after = shop.data(GET_PAYMENT, {"id": payment["id"]}, token)["getPayment"]
    assert (after["status"], after["refundedAmount"]) == ("PARTIALLY_REFUNDED", 5000)


def stripe_event_of(kind: str, object_id: str) -> str:
    """The id of Stripe's `kind` event about `object_id`, read through the stripe library."""
    events = gateway.client().v1.events.list({"limit": 100}).auto_paging_iter()
    return next(e.id for e in events if e.type == kind and e.data.object.id == object_id)
