"""All-access subscriptions: created and cancelled through Stripe, kept current from
`customer.subscription.*` and `invoice.*` events.

Events about a subscription are handled by fetching the subscription from Stripe and
recording what it says now, so events arriving out of order can never move it backwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.errors import Conflict, ValidationFailed
from lms.models import utcnow
from lms.payments import gateway
from lms.payments.access import LIVE_SUBSCRIPTION, parse_uuid
from lms.payments.errors import PaymentsNotConfigured, SubscriptionNotFound
from lms.payments.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    StripeCustomer,
    Subscription,
    SubscriptionStatus,
)
from lms.payments.receipts import send_receipt
from lms.payments.settings import PaymentSettings, payment_settings
from lms.security import Viewer, require_authenticated
from lms.users.service import contacts, lock_user

STRIPE_STATUS = {status.value.lower(): status for status in SubscriptionStatus}
OPEN = (*LIVE_SUBSCRIPTION, SubscriptionStatus.INCOMPLETE, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class SubscriptionOrder:
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    price: str
    customer_id: str | None
    payment_method: str | None


def _moment(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def begin_subscription(
    session: Session,
    viewer: Viewer,
    *,
    input: dict[str, Any],
    settings: PaymentSettings | None = None,
) -> SubscriptionOrder:
    """Check the plan and record an INCOMPLETE subscription (one open one per user)."""
    user_id = require_authenticated(viewer)
    settings = settings or payment_settings()
    if not settings.configured:
        raise PaymentsNotConfigured(
            "subscriptions are not available: payments are not configured",
            code="PAYMENTS_NOT_CONFIGURED",
        )
    plan = input.get("plan") or ""
    if plan not in settings.plans:
        raise ValidationFailed(
            f"no such plan; plans: {', '.join(sorted(settings.plans)) or 'none'}",
            code="PLAN_NOT_FOUND",
            field="plan",
        )
    lock_user(session, user_id)  # one subscription request at a time
    live = session.scalar(
        select(Subscription).where(
            Subscription.user_id == user_id,
            Subscription.status.in_(OPEN),
            Subscription.stripe_subscription_id.is_not(None),
        )
    )
    if live is not None:
        raise Conflict("you already have a subscription", code="ALREADY_SUBSCRIBED")
    customer = session.get(StripeCustomer, user_id)
    sub = Subscription(user_id=user_id, plan=plan, status=SubscriptionStatus.INCOMPLETE)
    session.add(sub)
    session.flush()
    return SubscriptionOrder(
        sub.id,
        user_id,
        contacts(session, [user_id])[user_id]["email"],
        settings.plans[plan],
        customer.stripe_customer_id if customer else None,
        input.get("payment_method_id"),
    )


def send_subscription(order: SubscriptionOrder, settings: PaymentSettings | None = None) -> dict:
    """Create the Stripe customer (once per user) and the subscription, keyed by our ids."""
    stripe = gateway.client(settings)
    customer = order.customer_id
    if customer is None:
        created = gateway.call(
            stripe.v1.customers.create,
            {"email": order.email, "metadata": {"user_id": str(order.user_id)}},
            key=f"customer-{order.user_id}",
        )
        customer = created["id"]
    if order.payment_method:
        gateway.call(
            stripe.v1.payment_methods.attach,
            order.payment_method,
            {"customer": customer},
            key=f"attach-{order.subscription_id}",
        )
        gateway.call(
            stripe.v1.customers.update,
            customer,
            {"invoice_settings": {"default_payment_method": order.payment_method}},
            key=f"default-pm-{order.subscription_id}",
        )
    sub = gateway.call(
        stripe.v1.subscriptions.create,
        {
            "customer": customer,
            "items": [{"price": order.price}],
            "metadata": {"subscription_id": str(order.subscription_id)},
        },
        key=f"subscription-{order.subscription_id}",
    )
    return {"customer": customer, "subscription": gateway.plain(sub)}


def record_customer(session: Session, user_id: uuid.UUID, customer_id: str) -> None:
    if session.get(StripeCustomer, user_id) is None:
        session.add(StripeCustomer(user_id=user_id, stripe_customer_id=customer_id))


def attach_subscription(
    session: Session, _viewer: Viewer, *, order: SubscriptionOrder, created: dict
) -> Subscription:
    record_customer(session, order.user_id, created["customer"])
    return apply_subscription(session, created["subscription"])


def _find(session: Session, obj: dict) -> Subscription | None:
    sub = session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == obj["id"])
        .with_for_update()
    )
    ours = (obj.get("metadata") or {}).get("subscription_id")
    if sub is None and ours:
        sub = session.scalar(
            select(Subscription).where(Subscription.id == parse_uuid(ours)).with_for_update()
        )
    return sub


def _period_end(obj: dict) -> datetime | None:
    end = obj.get("current_period_end")
    if end is None:  # newer API versions keep it on the items
        items = (obj.get("items") or {}).get("data") or []
        end = items[0].get("current_period_end") if items else None
    return _moment(end)


def apply_subscription(session: Session, obj: dict) -> Subscription | None:
    """Record Stripe's current view of a subscription; None when it is not ours (yet)."""
    sub = _find(session, obj)
    if sub is None:
        return None
    now = utcnow()
    status = STRIPE_STATUS.get(obj.get("status") or "", sub.status)
    sub.stripe_subscription_id = obj["id"]
    sub.stripe_customer_id = obj.get("customer") or sub.stripe_customer_id
    if status in LIVE_SUBSCRIPTION:
        sub.grace_until = None
    sub.status = status
    sub.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    sub.current_period_end = _period_end(obj) or sub.current_period_end
    if status == SubscriptionStatus.CANCELED and sub.canceled_at is None:
        sub.canceled_at = _moment(obj.get("canceled_at")) or now
    sub.updated_at = now
    return sub


def refresh_subscription(
    session: Session, stripe_id: str, settings=None
) -> tuple[Subscription | None, dict]:
    """Fetch the subscription from Stripe and record it (what every event handler does);
    answers our row (None if unknown) and what Stripe said."""
    stripe = gateway.client(settings)
    current = gateway.plain(gateway.call(stripe.v1.subscriptions.retrieve, stripe_id))
    return apply_subscription(session, current), current


def record_invoice(session: Session, sub: Subscription, invoice: dict, *, paid: bool) -> None:
    """An invoice of a subscription as a payment in the buyer's history (once per invoice)."""
    payment = session.scalar(
        select(Payment).where(Payment.stripe_invoice_id == invoice["id"]).with_for_update()
    )
    now = utcnow()
    if payment is None:
        payment = Payment(
            kind=PaymentKind.SUBSCRIPTION,
            user_id=sub.user_id,
            subscription_id=sub.id,
            amount=int(invoice.get("amount_paid") or invoice.get("amount_due") or 0),
            currency=str(invoice.get("currency") or "usd").upper(),
            status=PaymentStatus.PENDING,
            description=f"subscription {sub.plan}",
            stripe_invoice_id=invoice["id"],
            stripe_payment_intent_id=invoice.get("payment_intent"),
        )
        session.add(payment)
    if paid and payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        payment.status, payment.paid_at, payment.fulfilled_at = PaymentStatus.PAID, now, now
        session.flush()  # the receipt names the payment's id
        send_receipt(session, payment)
    elif not paid and payment.status == PaymentStatus.PENDING:
        payment.status, payment.failure_code = PaymentStatus.FAILED, "CARD_DECLINED"
    payment.updated_at = now


def renewal_failed(session: Session, sub: Subscription, settings: PaymentSettings) -> bool:
    """Start the grace period (once per failure run); True when the buyer should be told."""
    if sub.grace_until is not None:
        return False
    sub.grace_until = utcnow() + timedelta(days=settings.grace_days)
    if sub.status in LIVE_SUBSCRIPTION:
        sub.status = SubscriptionStatus.PAST_DUE
    return True


# --- cancel -------------------------------------------------------------------------------


def begin_cancel(session: Session, viewer: Viewer, *, input: dict[str, Any]) -> tuple[str, bool]:
    """The Stripe id of the viewer's subscription to cancel, and whether to end it now."""
    user_id = require_authenticated(viewer)
    sub = session.get(
        Subscription,
        parse_uuid(input.get("subscription_id"), error=SubscriptionNotFound, what="subscription"),
    )
    if sub is None or not (viewer.is_admin or sub.user_id == user_id):
        raise SubscriptionNotFound("subscription not found", code="SUBSCRIPTION_NOT_FOUND")
    if sub.stripe_subscription_id is None or sub.status in (
        SubscriptionStatus.CANCELED,
        SubscriptionStatus.INCOMPLETE_EXPIRED,
    ):
        raise Conflict("this subscription is not active", code="SUBSCRIPTION_NOT_ACTIVE")
    return sub.stripe_subscription_id, not input.get("at_period_end", True)


def send_cancel(stripe_id: str, immediately: bool, settings=None) -> dict:
    stripe = gateway.client(settings)
    if immediately:
        done = gateway.call(stripe.v1.subscriptions.cancel, stripe_id, key=f"cancel-{stripe_id}")
    else:
        done = gateway.call(
            stripe.v1.subscriptions.update,
            stripe_id,
            {"cancel_at_period_end": True},
            key=f"cancel-at-end-{stripe_id}",
        )
    return gateway.plain(done)


def applied(session: Session, _viewer: Viewer, *, obj: dict) -> Subscription:
    return apply_subscription(session, obj)


def user_subscriptions(session: Session, viewer: Viewer) -> list[Subscription]:
    """The viewer's subscriptions, newest first."""
    user_id = require_authenticated(viewer)
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.user_id == user_id, Subscription.stripe_subscription_id.is_not(None)
            )
            .order_by(Subscription.created_at.desc())
        )
    )
