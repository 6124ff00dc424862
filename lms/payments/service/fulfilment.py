"""Payment state changes driven by Stripe events: paid → enrolled, fully refunded → revoked.

Statuses only move forward (PENDING → PAID → PARTIALLY_REFUNDED → REFUNDED; PENDING →
FAILED/EXPIRED), so a stale or replayed event changes nothing. Fulfilment happens once per
payment: `fulfilled_at` is set in the transaction that enrolls, under the payment's row lock.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.analytics.service import record
from lms.models import utcnow
from lms.payments.models import Payment, PaymentKind, PaymentStatus, Refund, RefundStatus
from lms.payments.receipts import send_receipt

OPEN = (PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.EXPIRED)
REFUND_REASON = "refunded"


def mark_paid(session: Session, payment: Payment, *, payment_intent: str | None) -> bool:
    """PENDING (or a failed/expired attempt Stripe then settled) → PAID, and fulfil."""
    now = utcnow()
    if payment_intent and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = payment_intent
    if payment.status not in OPEN:
        return False
    payment.status, payment.paid_at, payment.updated_at = PaymentStatus.PAID, now, now
    payment.failure_code = None
    _record(session, payment, "purchased", payment.amount)
    fulfil(session, payment)
    send_receipt(session, payment)
    settle_refunds(session, payment)
    return True


def fulfil(session: Session, payment: Payment) -> None:
    """Enroll the buyer, once (the Enrollments module owns the enrolment itself)."""
    if payment.fulfilled_at is not None or payment.kind != PaymentKind.COURSE:
        return
    from lms.enrollments.service import grant_paid_enrollment

    if payment.course_id is not None:
        payment.enrollment_id = grant_paid_enrollment(
            session, student_id=payment.user_id, course_id=payment.course_id
        )
    payment.fulfilled_at = utcnow()


def mark_unpaid(session: Session, payment: Payment, status: PaymentStatus, code: str | None):
    """A checkout that failed or expired; never undoes a payment that went through."""
    if payment.status == PaymentStatus.PENDING:
        payment.status, payment.failure_code, payment.updated_at = status, code, utcnow()


def settle_refunds(session: Session, payment: Payment) -> None:
    """Recompute what was refunded; revoke access once the whole amount is back."""
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status == RefundStatus.SUCCEEDED
        )
    )
    if refunded != payment.refunded_amount:
        if payment.status not in OPEN:  # a refund that failed afterwards counts negative
            _record(session, payment, "refunded", refunded - payment.refunded_amount)
        payment.refunded_amount, payment.updated_at = refunded, utcnow()
    if payment.status in OPEN:
        return  # refunds settle before payment events only if reordered: wait for "paid"
    if refunded >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
        if payment.revoked_at is None:
            revoke(session, payment)
    elif refunded > 0:
        payment.status = PaymentStatus.PARTIALLY_REFUNDED
    else:  # a refund failed after all: the payment stands (access revoked before stays so)
        payment.status = PaymentStatus.PAID


def _record(session: Session, payment: Payment, verb: str, amount: int) -> None:
    """The learning event of money moving (Analytics sums revenue and refunds from it)."""
    record(
        session,
        actor_id=payment.user_id,
        verb=verb,
        object_type="course" if payment.kind == PaymentKind.COURSE else "subscription",
        object_id=payment.course_id or payment.id,
        course_id=payment.course_id,
        result={"amount": amount, "currency": payment.currency},
    )


def revoke(session: Session, payment: Payment) -> None:
    payment.revoked_at = utcnow()
    if payment.enrollment_id is not None:
        from lms.enrollments.service import revoke_paid_enrollment

        revoke_paid_enrollment(session, enrollment_id=payment.enrollment_id, reason=REFUND_REASON)
