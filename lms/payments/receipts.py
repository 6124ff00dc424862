"""The payment receipt: a HIGH-priority SYSTEM notification (in-app, and an email from the
`payment_receipt` template), keyed by the payment so a replayed "paid" event never sends a
second one. Sent in the transaction that marks the payment PAID."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.notifications import service as notifications
from lms.payments.models import Payment

# ISO 4217 currencies without a minor unit (Stripe's zero-decimal list, the ones sold here).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def money(amount: int, currency: str) -> str:
    """Minor units as a person reads them: 4900 USD → "49.00 USD", 500 JPY → "500 JPY"."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return f"{amount:,} {code}"
    return f"{amount / 100:,.2f} {code}"


def send_receipt(session: Session, payment: Payment) -> None:
    paid = money(payment.amount, payment.currency)
    what = payment.description or "your purchase"
    link = get_settings().links_base
    if payment.course_id is not None:
        link = f"{link}/courses/{payment.course_id}"
    notifications.notify(
        session,
        user_id=payment.user_id,
        type="SYSTEM",
        priority="HIGH",
        title=f"Receipt: {paid} for {what}",
        body=f"We received {paid} for {what}.",
        key=f"payment:{payment.id}",
        link=link,
        data={"paymentId": str(payment.id), "amount": payment.amount, "currency": payment.currency},
        email_template="payment_receipt",
        email_context={
            "item": what,
            "amount": paid,
            "payment_id": str(payment.id),
            "paid_at": f"{payment.paid_at:%Y-%m-%d %H:%M} UTC",
            "link": link,
        },
    )
