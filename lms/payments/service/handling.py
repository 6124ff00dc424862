"""Acting on one stored Stripe event (run by the `payments.handle_event` job).

Order-safe: an event about an object we do not know yet raises `EventNotReady`, and the job
retries later (by then the earlier event has been handled, or reconciliation stored it).
Replays are no-ops: a delivery is handled once, and every state change is forward-only.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lms.errors import TransientJobError
from lms.mail.jobs import request_email
from lms.models import utcnow
from lms.payments.access import parse_uuid
from lms.payments.errors import PaymentProviderError
from lms.payments.events import CHECKOUT_EVENTS, INVOICE_EVENTS, REFUND_EVENTS, SUBSCRIPTION_EVENTS
from lms.payments.models import DeliveryOutcome, Payment, PaymentStatus, WebhookDelivery
from lms.payments.service import fulfilment, refunds, subscriptions
from lms.payments.settings import PaymentSettings, payment_settings
from lms.users.service import contacts


class EventNotReady(TransientJobError):
    """The event's object is not known here yet: try again later."""

    code = "EVENT_NOT_READY"


def _payment_for_session(session: Session, obj: dict) -> Payment | None:
    ours = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("payment_id")
    clauses = [Payment.stripe_checkout_session_id == obj["id"]]
    if ours:
        try:
            clauses.append(Payment.id == uuid.UUID(str(ours)))
        except ValueError:
            pass
    return session.scalar(select(Payment).where(or_(*clauses)).with_for_update())


def _ours(obj: dict, key: str, reference: str | None = None) -> bool:
    """Whether a Stripe object was made by us: it carries our id in its metadata."""
    return bool(reference or (obj.get("metadata") or {}).get(key))


def _checkout(session: Session, kind: str, obj: dict) -> str:
    payment = _payment_for_session(session, obj)
    if payment is None and not _ours(obj, "payment_id", obj.get("client_reference_id")):
        return "not a Lyceum checkout"  # another application on the same Stripe account
    if payment is None:
        raise EventNotReady(f"checkout session {obj['id']} names no payment known yet")
    payment.stripe_checkout_session_id = payment.stripe_checkout_session_id or obj["id"]
    intent = obj.get("payment_intent")
    total, currency = obj.get("amount_total"), str(obj.get("currency") or "").upper()
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded") and (
        total != payment.amount or currency != payment.currency
    ):
        # Never fulfil what was not paid in full, whatever the session says.
        fulfilment.mark_unpaid(session, payment, PaymentStatus.FAILED, "AMOUNT_MISMATCH")
        return f"amount mismatch: paid {total} {currency}, owed {payment.amount} {payment.currency}"
    if kind == "checkout.session.async_payment_succeeded" or (
        kind == "checkout.session.completed" and obj.get("payment_status") == "paid"
    ):
        return (
            "fulfilled"
            if fulfilment.mark_paid(session, payment, payment_intent=intent)
            else "no change"
        )
    if kind == "checkout.session.completed":  # paid later (bank debit): wait for the outcome
        if intent and not payment.stripe_payment_intent_id:
            payment.stripe_payment_intent_id, payment.updated_at = intent, utcnow()
        return "awaiting asynchronous payment"
    if kind == "checkout.session.async_payment_failed":
        fulfilment.mark_unpaid(session, payment, PaymentStatus.FAILED, "PAYMENT_FAILED")
        return "payment failed"
    fulfilment.mark_unpaid(session, payment, PaymentStatus.EXPIRED, None)
    return "checkout expired"


def _refund(session: Session, obj: dict) -> str:
    refund = refunds.apply_refund(session, obj)
    if refund is None:
        raise EventNotReady(f"refund {obj['id']} is for a payment not known yet")
    return f"refund {refund.status.value.lower()}"


def _subscription_id(obj: dict) -> str | None:
    if obj.get("object") == "subscription":
        return obj["id"]
    value = obj.get("subscription")
    if value is None:  # newer API versions: invoice.parent.subscription_details
        value = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return value["id"] if isinstance(value, dict) else value


def _subscription(
    session: Session, kind: str, obj: dict, settings: PaymentSettings, *, fetch: bool
) -> str:
    stripe_id = _subscription_id(obj)
    if stripe_id is None:
        return "not a subscription invoice"
    sub, current = None, obj
    if fetch:
        try:
            sub, current = subscriptions.refresh_subscription(session, stripe_id, settings)
        except PaymentProviderError as error:
            if error.details.get("status") != 404 or obj.get("object") != "subscription":
                raise
            fetch = False  # gone from Stripe: the event's own copy is the last word
    if not fetch:
        sub = subscriptions.apply_subscription(session, obj)
    if (
        sub is None
        and current.get("object") == "subscription"
        and not _ours(current, "subscription_id")
    ):
        return "not a Lyceum subscription"
    if sub is None:
        raise EventNotReady(f"subscription {stripe_id} is not known yet")
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        subscriptions.record_invoice(session, sub, obj, paid=True)
    elif kind == "invoice.payment_failed":
        subscriptions.record_invoice(session, sub, obj, paid=False)
        if subscriptions.renewal_failed(session, sub, settings):
            user = contacts(session, [sub.user_id]).get(sub.user_id)
            if user is not None:
                request_email(
                    session,
                    template="subscription_payment_failed",
                    to=user["email"],
                    context={
                        "name": user["name"],
                        "plan": sub.plan,
                        "grace_until": sub.grace_until.strftime("%Y-%m-%d"),
                    },
                    subject=("subscription", str(sub.id)),
                )
    return f"subscription {sub.status.value.lower()}"


def handle_event(
    session: Session, event: dict, settings: PaymentSettings | None = None, *, fetch: bool = True
) -> str:
    """Apply one event; the answer says what it did. `fetch=False` trusts the event's own
    subscription object instead of asking Stripe (used where Stripe is out of reach)."""
    settings = settings or payment_settings()
    kind, obj = event["type"], event["data"]["object"]
    if kind in CHECKOUT_EVENTS:
        return _checkout(session, kind, obj)
    if kind in REFUND_EVENTS:
        return _refund(session, obj)
    if kind in SUBSCRIPTION_EVENTS or kind in INVOICE_EVENTS:
        return _subscription(session, kind, obj, settings, fetch=fetch)
    return "ignored"


def handle_delivery(session: Session, delivery_id: Any, settings=None) -> dict[str, Any]:
    """The job's work: handle a stored delivery once."""
    delivery = session.get(WebhookDelivery, parse_uuid(delivery_id), with_for_update=True)
    if delivery is None or not delivery.valid:
        return {"skipped": "no such verified delivery"}
    if delivery.outcome in (DeliveryOutcome.HANDLED, DeliveryOutcome.IGNORED):
        return {"skipped": f"already {delivery.outcome.value.lower()}"}
    outcome = handle_event(session, json.loads(delivery.body), settings)
    delivery.outcome, delivery.handled_at, delivery.error = DeliveryOutcome.HANDLED, utcnow(), None
    return {"event": delivery.event_id, "type": delivery.event_type, "outcome": outcome}


def delivery_failed(session: Session, delivery_id: Any, error: str) -> None:
    """Record a handling failure on the delivery (admins see it and may re-handle it)."""
    delivery = session.get(WebhookDelivery, parse_uuid(delivery_id), with_for_update=True)
    if delivery is not None and delivery.outcome == DeliveryOutcome.QUEUED:
        delivery.outcome, delivery.error, delivery.handled_at = (
            DeliveryOutcome.FAILED,
            error[:2000],
            utcnow(),
        )
