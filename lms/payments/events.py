"""What the Payments module does with Stripe's event types.

Types not listed here are answered 200 and stored as IGNORED: Stripe sends whatever the
endpoint is subscribed to, and refusing them would only make Stripe retry.
"""

from __future__ import annotations

CHECKOUT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"})
HANDLED_EVENTS = CHECKOUT_EVENTS | REFUND_EVENTS | SUBSCRIPTION_EVENTS | INVOICE_EVENTS

HANDLE_JOB = "payments.handle_event"
RECONCILE_JOB = "payments.reconcile"
