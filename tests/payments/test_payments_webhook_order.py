"""Webhooks that arrive twice, at once, out of order, or never."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from lms.payments.service.reconcile import reconcile
from lms.users.models import Role
from tests.payments.support import (
    CHECKOUT,
    DELIVERIES,
    GET_PAYMENT,
    MY_ENROLLMENTS,
    paid_course,
    post_event,
)
from tests.support import create_user


def _open_checkout(api, token, course) -> dict:
    return api.data(CHECKOUT, {"input": {"courseId": course}}, token)["createCheckoutSession"]


def _withheld(stripe_http, session_id: str, action: str, **extra) -> dict:
    """Make Stripe's event but lose its webhook, as a network failure would."""
    answer = stripe_http.post(
        f"/_test/checkout/{session_id}/{action}", json={"deliver": False, **extra}
    )
    return answer.json()["events"][0]


def _enrollments(api, token, course) -> list[str]:
    nodes = api.data(MY_ENROLLMENTS, token=token)["myEnrollments"]["nodes"]
    return [n["status"] for n in nodes if n["courseId"] == course]


def test_the_same_event_delivered_concurrently_fulfils_once(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id)
    checkout = _open_checkout(shop, token, course)
    event = _withheld(stripe_http, checkout["sessionId"], "pay")

    def deliver(_):
        with httpx.Client(base_url=shop.base_url, timeout=30) as http:
            return post_event(http, event)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(deliver, range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json().get("duplicate", False) for a in answers) == [False] + [True] * 9
    assert jobs.handled(event["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["ACTIVE"]
    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert payment["status"] == "PAID"


def test_events_out_of_order_end_in_the_same_state(shop, stripe_http, stripe_server, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=6000)
    checkout = _open_checkout(shop, token, course)
    completed = _withheld(stripe_http, checkout["sessionId"], "pay_later")  # bank debit
    settled = _withheld(stripe_http, checkout["sessionId"], "settle")

    # The settlement arrives first: the payment is known by our reference, so it is paid.
    post_event(shop.http, settled)
    assert jobs.handled(settled["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["ACTIVE"]
    # The older "completed, not yet paid" event comes late: it moves nothing backwards.
    post_event(shop.http, completed)
    assert jobs.handled(completed["id"]) == "SUCCEEDED"
    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert payment["status"] == "PAID" and payment["fulfilledAt"]
    assert _enrollments(shop, token, course) == ["ACTIVE"]


def test_a_refund_event_before_its_payment_waits_for_it(shop, stripe_http, stripe_server, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=4000)
    checkout = _open_checkout(shop, token, course)
    completed = _withheld(stripe_http, checkout["sessionId"], "pay")
    intent = completed["data"]["object"]["payment_intent"]

    # Refunded in Stripe's dashboard; its webhook outruns the (lost) checkout webhook.
    refund = stripe_server.stripe.v1.refunds.create(
        {"payment_intent": intent}, options={"idempotency_key": f"dash-{intent}"}
    )
    refund_events = [
        e
        for e in stripe_server.stripe.v1.events.list({"type": "refund.created"}).auto_paging_iter()
        if e.data.object.id == refund.id
    ]
    assert len(refund_events) == 1
    refund_event = refund_events[0].id
    assert jobs.handled(refund_event, statuses=("RETRYING",)) == "RETRYING"

    post_event(shop.http, completed)
    assert jobs.handled(completed["id"]) == "SUCCEEDED"
    assert jobs.handled(refund_event) == "SUCCEEDED"  # its retry found the payment
    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert (payment["status"], payment["refundedAmount"]) == ("REFUNDED", 4000)
    assert _enrollments(shop, token, course) == ["DROPPED"]

    # A stale copy of the checkout event (another id, same object) changes nothing.
    stale = {**completed, "id": completed["id"] + "_copy"}
    post_event(shop.http, stale)
    assert jobs.handled(stale["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["DROPPED"]


def test_a_missed_webhook_is_reconciled(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, admin = create_user(Role.ADMIN)
    course = paid_course(teacher.id, price=2000)
    checkout = _open_checkout(shop, token, course)
    lost = _withheld(stripe_http, checkout["sessionId"], "pay")
    assert _enrollments(shop, token, course) == []

    first = reconcile()
    assert first["recovered"] >= 1
    assert jobs.handled(lost["id"]) == "SUCCEEDED"
    assert _enrollments(shop, token, course) == ["ACTIVE"]
    assert reconcile()["recovered"] == 0  # known events are never handled twice
    nodes = shop.data(DELIVERIES, {"o": "HANDLED"}, admin)["paymentWebhookDeliveries"]["nodes"]
    assert [d["source"] for d in nodes if d["eventId"] == lost["id"]] == ["reconcile"]


def test_a_session_paid_for_another_amount_is_never_fulfilled(shop, stripe_http, jobs):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=9900)
    checkout = _open_checkout(shop, token, course)
    paid = stripe_http.post(
        f"/_test/checkout/{checkout['sessionId']}/pay", json={"amount_total": 99}
    ).json()
    assert jobs.handled(paid["events"][0]["id"]) == "SUCCEEDED"
    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert (payment["status"], payment["failureCode"]) == ("FAILED", "AMOUNT_MISMATCH")
    assert _enrollments(shop, token, course) == []


REHANDLE = """mutation($id: ID!) { rehandlePaymentWebhook(id: $id) { id outcome error } }"""


def test_admins_see_failed_deliveries_and_payments_and_can_rehandle(shop, stripe_http, jobs):
    from tests.payments.support import HISTORY, event

    teacher, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    _, admin = create_user(Role.ADMIN)
    course = paid_course(teacher.id)
    checkout = _open_checkout(shop, token, course)
    broken = event(
        "refund.created",
        {
            "id": "re_broken",
            "object": "refund",
            "amount": 1,
            "payment_intent": "pi_x",
            "status": "succeeded",
            "metadata": {"refund_id": "not-an-id"},
        },
    )
    assert post_event(shop.http, broken).status_code == 200
    assert jobs.handled(broken["id"]) == "FAILED"
    failed = shop.data(DELIVERIES, {"o": "FAILED"}, admin)["paymentWebhookDeliveries"]["nodes"]
    [mine] = [d for d in failed if d["eventId"] == broken["id"]]
    assert "PAYMENT_NOT_FOUND" in mine["error"]

    assert shop.error_codes(REHANDLE, {"id": mine["id"]}, token) == ["FORBIDDEN"]
    again = shop.data(REHANDLE, {"id": mine["id"]}, admin)["rehandlePaymentWebhook"]
    assert (again["outcome"], again["error"]) == ("QUEUED", None)
    assert jobs.handled(broken["id"], times=2) == "FAILED"  # handled again, still broken
    handled = shop.data(DELIVERIES, {"o": "HANDLED"}, admin)["paymentWebhookDeliveries"]
    assert all(d["eventId"] != broken["id"] for d in handled["nodes"])

    # Admins see anyone's payments; students only their own.
    theirs = shop.data(HISTORY, {"input": {"userId": str(student.id)}}, admin)
    assert [p["id"] for p in theirs["getPaymentHistory"]["nodes"]] == [checkout["paymentId"]]
    other, _ = create_user(Role.STUDENT)
    assert shop.error_codes(HISTORY, {"input": {"userId": str(other.id)}}, token) == ["FORBIDDEN"]


def test_a_bounced_or_expired_checkout_never_enrolls_and_a_new_one_can_follow(
    shop, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=3500)
    first = _open_checkout(shop, token, course)
    for action in ("pay_later", "bounce"):  # a bank debit that comes back unpaid
        sent = stripe_http.post(f"/_test/checkout/{first['sessionId']}/{action}").json()
        assert jobs.handled(sent["events"][0]["id"]) == "SUCCEEDED"
    payment = shop.data(GET_PAYMENT, {"id": first["paymentId"]}, token)["getPayment"]
    assert (payment["status"], payment["failureCode"]) == ("FAILED", "PAYMENT_FAILED")
    assert _enrollments(shop, token, course) == []

    second = _open_checkout(shop, token, course)
    assert second["paymentId"] != first["paymentId"]
    expired = stripe_http.post(f"/_test/checkout/{second['sessionId']}/expire").json()
    assert jobs.handled(expired["events"][0]["id"]) == "SUCCEEDED"
    payment = shop.data(GET_PAYMENT, {"id": second["paymentId"]}, token)["getPayment"]
    assert payment["status"] == "EXPIRED"
    assert _enrollments(shop, token, course) == []


def test_another_applications_checkout_on_the_same_account_is_left_alone(shop, jobs):
    from tests.payments.support import event

    foreign = event(
        "checkout.session.completed",
        {
            "id": "cs_elsewhere",
            "object": "checkout.session",
            "amount_total": 100,
            "currency": "usd",
            "payment_status": "paid",
            "metadata": {},
        },
    )
    assert post_event(shop.http, foreign).status_code == 200
    assert jobs.handled(foreign["id"]) == "SUCCEEDED"  # handled once, not retried
    assert [e["status"] for e in jobs.by_subject[foreign["id"]]].count("RETRYING") == 0
