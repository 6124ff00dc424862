"""Buying a course: checkout through Stripe, enrolment only from the verified webhook."""

from __future__ import annotations

import json
import uuid

from lms.users.models import Role
from tests.payments.support import (
    CHECKOUT,
    DELIVERIES,
    ENROLL,
    GET_PAYMENT,
    HISTORY,
    MY_ENROLLMENTS,
    event,
    paid_course,
    post_event,
    sign,
)
from tests.faults.support import wait_until
from tests.support import create_user

INBOX = """{ getUserNotifications { nodes { type priority title data
  deliveries { channel status } } } }"""


def _checkout(api, token, course_id, **fields) -> dict:
    variables = {"input": {"courseId": course_id, **fields}}
    return api.data(CHECKOUT, variables, token)["createCheckoutSession"]


def _enrolled(api, token, course_id) -> list[dict]:
    nodes = api.data(MY_ENROLLMENTS, token=token)["myEnrollments"]["nodes"]
    return [n for n in nodes if n["courseId"] == course_id]


def test_a_paid_course_is_enrolled_only_once_stripe_confirms_the_payment(
    shop, stripe_server, stripe_http, jobs
):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=4900, currency="USD")

    # enrollInCourse answers with the checkout to complete instead of enrolling.
    body = shop.execute(ENROLL, {"c": course}, token)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAYMENT_REQUIRED"
    offered = error["extensions"]["checkout"]
    assert offered["url"].startswith(stripe_server.url)
    assert (offered["amount"], offered["currency"]) == (4900, "USD")

    # Asking again (or through createCheckoutSession) gives the same open checkout.
    checkout = _checkout(shop, token, course, currency="USD", expectedAmount=4900)
    assert (checkout["paymentId"], checkout["sessionId"]) == (
        offered["paymentId"],
        offered["sessionId"],
    )
    assert checkout["payment"]["status"] == "PENDING"
    session = stripe_server.stripe.v1.checkout.sessions.retrieve(checkout["sessionId"])
    assert (session.amount_total, session.currency) == (4900, "usd")
    assert session.client_reference_id == checkout["paymentId"]
    assert _enrolled(shop, token, course) == []  # nothing until Stripe says it was paid

    paid = stripe_http.post(f"/_test/checkout/{checkout['sessionId']}/pay").json()
    event = paid["events"][0]
    assert jobs.handled(event["id"]) == "SUCCEEDED"

    payment = shop.data(GET_PAYMENT, {"id": checkout["paymentId"]}, token)["getPayment"]
    assert payment["status"] == "PAID"
    assert payment["fulfilledAt"] and payment["enrollmentId"]
    [enrollment] = _enrolled(shop, token, course)
    assert (enrollment["id"], enrollment["status"]) == (payment["enrollmentId"], "ACTIVE")
    history = shop.data(HISTORY, {"input": {}}, token)["getPaymentHistory"]
    assert [p["id"] for p in history["nodes"]] == [payment["id"]]

    # The receipt: in the inbox at once, and by email (its delivery is SENT by the worker).
    def receipts():
        nodes = shop.data(INBOX, token=token)["getUserNotifications"]["nodes"]
        found = [n for n in nodes if n["data"].get("paymentId") == payment["id"]]
        sent = found and {"channel": "EMAIL", "status": "SENT"} in found[0]["deliveries"]
        return found if sent else None

    [receipt] = wait_until(receipts, 30, "the receipt is emailed")
    assert (receipt["type"], receipt["priority"]) == ("SYSTEM", "HIGH")
    assert receipt["title"].startswith("Receipt: 49.00 USD for ")

    # A replay of the same event is answered 200 and changes nothing (no second receipt).
    replay = post_event(shop.http, event)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert len(_enrolled(shop, token, course)) == 1
    assert len(receipts()) == 1
    # Every POST to Stripe carried an idempotency key.
    assert [p for p in stripe_server.posts_without_idempotency_key() if p.startswith("/v1/")] == []

    # Checkout for a course one is enrolled in is refused.
    codes = shop.error_codes(CHECKOUT, {"input": {"courseId": course}}, token)
    assert codes == ["ALREADY_ENROLLED"]
    _, admin = create_user(Role.ADMIN)
    deliveries = shop.data(DELIVERIES, {"o": "HANDLED"}, admin)["paymentWebhookDeliveries"]
    mine = [d for d in deliveries["nodes"] if d["eventId"] == event["id"]]
    assert mine and mine[0]["duplicates"] == 1 and mine[0]["valid"]


def test_forged_stale_and_malformed_deliveries_are_refused_and_stored(shop):
    _, admin = create_user(Role.ADMIN)
    before = shop.data(DELIVERIES, {"o": "INVALID"}, admin)["paymentWebhookDeliveries"]
    payload = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "created": 1,
        "data": {"object": {"id": "cs_x"}},
    }
    forged = post_event(shop.http, payload, secret="whsec_wrong")
    stale = post_event(shop.http, payload, timestamp=int(__import__("time").time()) - 301)
    unsigned = shop.http.post("/webhooks/stripe", content=b'{"id": "evt_1"}')
    garbage = shop.http.post(
        "/webhooks/stripe", content=b"not json", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert [r.status_code for r in (forged, stale, unsigned, garbage)] == [400, 400, 400, 400]
    after = shop.data(DELIVERIES, {"o": "INVALID"}, admin)["paymentWebhookDeliveries"]
    assert after["totalCount"] == before["totalCount"] + 4
    assert all(not d["valid"] and d["error"] for d in after["nodes"][:4])
    # A forged delivery never occupies the real event's id: the genuine one is accepted.
    genuine = post_event(shop.http, {**payload, "type": "customer.created"})
    assert genuine.status_code == 200 and genuine.json() == {"received": True, "ignored": True}


def test_the_webhook_endpoint_answers_like_the_rest_of_the_api(shop):
    # It answers ahead of Quart (web/webhooks.py): the shell's headers, codes and limits hold.
    payload = event("customer.created", {"id": f"cus_{uuid.uuid4().hex}"})
    body = json.dumps(payload).encode()
    answer = shop.http.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(body), "X-Request-ID": "stripe-req-0001"},
    )
    assert answer.status_code == 200 and answer.json() == {"received": True, "ignored": True}
    assert answer.headers["X-Request-ID"] == "stripe-req-0001"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Type"] == "application/json"

    wrong_method = shop.http.get("/webhooks/stripe")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    assert wrong_method.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"

    too_large = shop.http.post("/webhooks/stripe", content=b"x" * (1_048_576 + 1))
    assert too_large.status_code == 413
    error = too_large.json()["errors"][0]["extensions"]
    assert error["code"] == "REQUEST_TOO_LARGE" and error["requestId"]


def test_bad_checkout_requests_get_clear_codes(shop):
    teacher, teacher_token = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course = paid_course(teacher.id, price=2500, currency="EUR")
    free = paid_course(teacher.id, price=0)

    def codes(**fields):
        return shop.error_codes(CHECKOUT, {"input": {"courseId": course, **fields}}, token)

    assert codes(currency="USD") == ["CURRENCY_MISMATCH"]
    assert codes(expectedAmount=1) == ["PRICE_MISMATCH"]
    assert codes(successUrl="https://evil.example/steal") == ["INVALID_RETURN_URL"]
    assert shop.error_codes(CHECKOUT, {"input": {"courseId": free}}, token) == ["COURSE_IS_FREE"]
    assert shop.error_codes(CHECKOUT, {"input": {"courseId": str(uuid.uuid4())}}, token) == [
        "COURSE_NOT_FOUND"
    ]
    assert shop.error_codes(CHECKOUT, {"input": {"courseId": course}}, teacher_token) == [
        "OWN_COURSE"
    ]
    assert shop.error_codes(CHECKOUT, {"input": {"courseId": course}}) == ["UNAUTHENTICATED"]
    # A free course still enrolls directly.
    assert shop.data(ENROLL, {"c": free}, token)["enrollInCourse"]["status"] == "ACTIVE"
    # Nothing half-written: no payment was recorded by the refused requests.
    assert shop.data(HISTORY, {"input": {}}, token)["getPaymentHistory"]["totalCount"] == 0


def test_several_currencies_keep_their_minor_units(shop, stripe_server):
    teacher, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    for price, currency in ((1999, "EUR"), (3000, "JPY"), (1250, "GBP")):
        course = paid_course(teacher.id, price=price, currency=currency)
        checkout = _checkout(shop, token, course)
        assert (checkout["amount"], checkout["currency"]) == (price, currency)
        session = stripe_server.stripe.v1.checkout.sessions.retrieve(checkout["sessionId"])
        assert (session.amount_total, session.currency) == (price, currency.lower())


def test_without_stripe_keys_paid_checkout_says_payments_are_not_configured(stripe_server):
    from tests.support import GraphQLClient, start_api

    process, base_url = start_api(env={"LMS_STRIPE_SECRET_KEY": None})
    api = GraphQLClient(base_url)
    try:
        teacher, _ = create_user(Role.EDUCATOR)
        _, token = create_user(Role.STUDENT)
        course = paid_course(teacher.id)
        free = paid_course(teacher.id, price=0)
        assert api.error_codes(CHECKOUT, {"input": {"courseId": course}}, token) == [
            "PAYMENTS_NOT_CONFIGURED"
        ]
        assert api.error_codes(ENROLL, {"c": course}, token) == ["PAYMENTS_NOT_CONFIGURED"]
        assert api.data(ENROLL, {"c": free}, token)["enrollInCourse"]["status"] == "ACTIVE"
    finally:
        api.close()
        process.stop()
