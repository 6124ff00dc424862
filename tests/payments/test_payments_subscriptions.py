"""All-access subscriptions: access to every paid course while in good standing."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from lms.db import session_scope
from lms.jobs.models import Job
from lms.payments.models import Subscription
from lms.users.models import Role
from tests.payments.support import CANCEL, ENROLL, SUBSCRIBE, SUBSCRIPTIONS, paid_course
from tests.support import create_user


def _card(stripe_server) -> str:
    """A payment method as Stripe.js would collect it in the browser."""
    method = stripe_server.stripe.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
        options={"idempotency_key": f"pm-{uuid.uuid4()}"},
    )
    return method.id


def _stripe_id(subscription_id: str) -> str:
    with session_scope() as session:
        return session.scalar(
            select(Subscription.stripe_subscription_id).where(
                Subscription.id == uuid.UUID(subscription_id)
            )
        )


def test_a_subscription_opens_paid_courses_until_it_is_cancelled(
    shop, stripe_server, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    _, stranger = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=7900)
    other = paid_course(teacher.id, price=1900)

    def subscribe(plan="all-access-monthly"):
        variables = {"input": {"plan": plan, "paymentMethodId": _card(stripe_server)}}
        return shop.execute(SUBSCRIBE, variables, token)

    assert subscribe("gold")["errors"][0]["extensions"]["code"] == "PLAN_NOT_FOUND"
    sub = subscribe()["data"]["createSubscription"]
    assert (sub["plan"], sub["status"], sub["grantsAccess"]) == (
        "all-access-monthly",
        "ACTIVE",
        True,
    )
    assert sub["currentPeriodEnd"]
    assert subscribe()["errors"][0]["extensions"]["code"] == "ALREADY_SUBSCRIBED"
    # A paid course is joined directly, no checkout.
    assert shop.data(ENROLL, {"c": course}, token)["enrollInCourse"]["status"] == "ACTIVE"

    # A failed renewal: past due, access kept for the grace period, the buyer is told.
    failed = stripe_http.post(f"/_test/subscriptions/{_stripe_id(sub['id'])}/renewal_failed")
    assert jobs.handled(failed.json()["events"][0]["id"]) == "SUCCEEDED"
    [now] = shop.data(SUBSCRIPTIONS, token=token)["getUserSubscriptions"]
    assert (now["status"], now["grantsAccess"]) == ("PAST_DUE", True)
    assert now["graceUntil"]
    with session_scope() as session:
        emails = session.scalars(
            select(Job.payload).where(Job.kind == "email.send", Job.subject_id == sub["id"])
        ).all()
    assert [e["to"] for e in emails] == [student.email]

    # Someone else cannot cancel it.
    variables = {"input": {"subscriptionId": sub["id"]}}
    assert shop.error_codes(CANCEL, variables, stranger) == ["SUBSCRIPTION_NOT_FOUND"]
    at_end = shop.data(CANCEL, variables, token)["cancelSubscription"]
    assert at_end["cancelAtPeriodEnd"] is True and at_end["grantsAccess"] is True

    ended = shop.data(CANCEL, {"input": {"subscriptionId": sub["id"], "atPeriodEnd": False}}, token)
    assert ended["cancelSubscription"]["status"] == "CANCELED"
    assert ended["cancelSubscription"]["grantsAccess"] is False
    assert shop.error_codes(CANCEL, variables, token) == ["SUBSCRIPTION_NOT_ACTIVE"]
    # Without the subscription a paid course needs its checkout again.
    assert shop.error_codes(ENROLL, {"c": other}, token) == ["PAYMENT_REQUIRED"]
