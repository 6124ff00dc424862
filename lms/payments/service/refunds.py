"""Refunds by policy: within LMS_STRIPE_REFUND_DAYS of payment and under
LMS_STRIPE_REFUND_MAX_PROGRESS percent of the course; partial and repeated refunds up to
what was paid. Admins may refund outside the policy.

Like checkout, a request is three steps around the Stripe call: `begin_refund` records a
PENDING refund under the payment's row lock (so two requests cannot exceed the amount),
`send_refund` asks Stripe keyed by our refund id, `apply_refund` records Stripe's answer,
the same function the `refund.*` webhooks run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.db import session_scope
from lms.errors import ValidationFailed
from lms.models import utcnow
from lms.payments import gateway
from lms.payments.access import parse_uuid, visible_payment
from lms.payments.errors import (
    PaymentNotFound,
    PaymentProviderError,
    RefundNotEligible,
    RefundNotFound,
)
from lms.payments.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from lms.payments.service.fulfilment import settle_refunds
from lms.payments.settings import PaymentSettings, payment_settings
from lms.security import Viewer, require_authenticated

REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
# Stripe's refund statuses; `requires_action` waits for the customer like `pending`.
STRIPE_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}
FINAL = (RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED)


@dataclass(frozen=True)
class RefundEligibility:
    enrollment_id: uuid.UUID
    payment_id: uuid.UUID | None
    eligible: bool
    reasons: list[dict] = field(default_factory=list)
    refundable_amount: int = 0
    currency: str | None = None
    deadline: datetime | None = None
    progress_percent: float = 0.0


def _outstanding(session: Session, payment: Payment) -> int:
    """What may still be refunded: paid minus refunds that succeeded or are on their way."""
    taken = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id,
            Refund.status.in_((RefundStatus.PENDING, RefundStatus.SUCCEEDED)),
        )
    )
    return max(payment.amount - taken, 0)


def _policy(
    session: Session, payment: Payment, progress: float, settings: PaymentSettings
) -> tuple[list[dict], int, datetime | None]:
    reasons = []
    deadline = payment.paid_at + timedelta(days=settings.refund_days) if payment.paid_at else None
    if payment.status == PaymentStatus.REFUNDED:
        reasons.append({"code": "ALREADY_REFUNDED", "message": "the payment is fully refunded"})
    elif payment.status not in REFUNDABLE:
        reasons.append({"code": "NOT_PAID", "message": "nothing was paid that could be refunded"})
    if deadline is not None and utcnow() > deadline:
        reasons.append(
            {
                "code": "REFUND_WINDOW_CLOSED",
                "message": f"refunds are possible within {settings.refund_days} days of payment",
            }
        )
    if progress >= settings.refund_max_progress:
        reasons.append(
            {
                "code": "TOO_MUCH_PROGRESS",
                "message": f"refunds are possible under {settings.refund_max_progress:g} % "
                "of the course",
            }
        )
    outstanding = _outstanding(session, payment)
    if payment.status in REFUNDABLE and outstanding <= 0:
        reasons.append({"code": "ALREADY_REFUNDED", "message": "the payment is fully refunded"})
    return reasons, outstanding, deadline


def _course_payment(session: Session, student_id: uuid.UUID, course_id: uuid.UUID):
    return session.scalar(
        select(Payment)
        .where(
            Payment.user_id == student_id,
            Payment.course_id == course_id,
            Payment.kind == PaymentKind.COURSE,
            Payment.paid_at.is_not(None),
        )
        .order_by(Payment.paid_at.desc())
        .limit(1)
    )


def get_refund_eligibility(
    session: Session,
    viewer: Viewer,
    *,
    enrollment_id: Any,
    settings: PaymentSettings | None = None,
) -> RefundEligibility:
    """Whether the enrollment's purchase may be refunded now, how much, and why not."""
    from lms.enrollments.service import get_enrollment

    settings = settings or payment_settings()
    user_id = require_authenticated(viewer)
    enrollment = get_enrollment(session, viewer, id=enrollment_id)  # NOT_FOUND for strangers
    if not (viewer.is_admin or enrollment.student_id == user_id):
        raise PaymentNotFound("no payment of yours for this enrollment", code="PAYMENT_NOT_FOUND")
    payment = _course_payment(session, enrollment.student_id, enrollment.course_id)
    if payment is None:
        return RefundEligibility(
            enrollment.id,
            None,
            False,
            [{"code": "NOT_PAID", "message": "this enrollment was not paid for"}],
            progress_percent=enrollment.progress_percent,
        )
    reasons, outstanding, deadline = _policy(
        session, payment, enrollment.progress_percent, settings
    )
    return RefundEligibility(
        enrollment.id,
        payment.id,
        not reasons,
        reasons,
        outstanding if payment.status in REFUNDABLE else 0,
        payment.currency,
        deadline,
        enrollment.progress_percent,
    )


@dataclass(frozen=True)
class RefundOrder:
    refund_id: uuid.UUID
    payment_intent: str
    amount: int


def begin_refund(
    session: Session,
    viewer: Viewer,
    *,
    input: dict[str, Any],
    settings: PaymentSettings | None = None,
) -> RefundOrder:
    """Check the policy and record a PENDING refund (the whole rest, or `amount`)."""
    from lms.enrollments.service import enrollment_progress_percent

    settings = settings or payment_settings()
    user_id = require_authenticated(viewer)
    payment = visible_payment(session, viewer, input.get("payment_id"), lock=True)
    progress = (
        enrollment_progress_percent(session, enrollment_id=payment.enrollment_id)
        if payment.enrollment_id
        else 0.0
    )
    reasons, outstanding, _ = _policy(session, payment, progress, settings)
    if viewer.is_admin:  # admins refund outside the window and progress rules
        reasons = [r for r in reasons if r["code"] in ("NOT_PAID", "ALREADY_REFUNDED")]
    if payment.stripe_payment_intent_id is None:
        reasons.append({"code": "NOT_PAID", "message": "the payment has no Stripe charge"})
    if reasons:
        raise RefundNotEligible(reasons[0]["message"], code="REFUND_NOT_ELIGIBLE", reasons=reasons)
    amount = input.get("amount")
    amount = outstanding if amount is None else amount
    if not 0 < amount <= outstanding:
        raise ValidationFailed(
            f"a refund is between 1 and {outstanding} ({payment.currency} minor units)",
            code="INVALID_REFUND_AMOUNT",
            field="amount",
            refundableAmount=outstanding,
        )
    reason = (input.get("reason") or "").strip() or None
    if reason and len(reason) > 500:
        raise ValidationFailed("a reason has at most 500 characters", code="REASON_TOO_LONG")
    refund = Refund(
        payment_id=payment.id,
        user_id=payment.user_id,
        requested_by_id=user_id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.PENDING,
        reason=reason,
    )
    session.add(refund)
    session.flush()
    return RefundOrder(refund.id, payment.stripe_payment_intent_id, amount)


def send_refund(order: RefundOrder, settings: PaymentSettings | None = None) -> dict:
    stripe = gateway.client(settings)
    created = gateway.call(
        stripe.v1.refunds.create,
        {
            "payment_intent": order.payment_intent,
            "amount": order.amount,
            "metadata": {"refund_id": str(order.refund_id)},
        },
        key=f"refund-{order.refund_id}",
    )
    return gateway.plain(created)


def refund_refused(session: Session, _viewer: Viewer, *, refund_id: uuid.UUID, reason: str):
    """Stripe said no at once: the refund is FAILED and frees its amount again."""
    refund = session.get(Refund, refund_id)
    if refund is not None and refund.status == RefundStatus.PENDING:
        refund.status, refund.failure_reason = RefundStatus.FAILED, reason[:255]
        refund.updated_at = utcnow()


def apply_refund(session: Session, obj: dict) -> Refund | None:
    """Record a Stripe refund object (our request's answer or a `refund.*` event).

    None means its payment is not known here yet (the event came before the checkout's):
    the caller retries later. A final status never changes again.
    """
    refund = session.scalar(
        select(Refund).where(Refund.stripe_refund_id == obj["id"]).with_for_update()
    )
    ours = (obj.get("metadata") or {}).get("refund_id")
    if refund is None and ours:
        refund = session.scalar(
            select(Refund).where(Refund.id == parse_uuid(ours)).with_for_update()
        )
    payment_intent = obj.get("payment_intent")
    payment = session.scalar(
        select(Payment)
        .where(
            Payment.id == refund.payment_id
            if refund is not None
            else Payment.stripe_payment_intent_id == payment_intent
        )
        .with_for_update()
    )
    if payment is None:
        return None
    if refund is None:  # made in Stripe's dashboard: record it too
        refund = Refund(
            payment_id=payment.id,
            user_id=payment.user_id,
            amount=int(obj["amount"]),
            currency=str(obj.get("currency") or payment.currency).upper(),
            status=RefundStatus.PENDING,
            reason=(obj.get("reason") or None),
        )
        session.add(refund)
    refund.stripe_refund_id = obj["id"]
    status = STRIPE_STATUS.get(obj.get("status") or "pending", RefundStatus.PENDING)
    # Final statuses stay, except that a refund Stripe reported as succeeded may still fail
    # later (the card was closed): that one moves, and its amount counts as paid again.
    movable = refund.status not in FINAL or (
        refund.status == RefundStatus.SUCCEEDED and status == RefundStatus.FAILED
    )
    if movable and status != refund.status:
        refund.status, refund.updated_at = status, utcnow()
        refund.failure_reason = obj.get("failure_reason") if status == RefundStatus.FAILED else None
    session.flush()
    settle_refunds(session, payment)
    return refund


def get_refund(session: Session, viewer: Viewer, *, id: Any) -> Refund:
    """One refund, for the buyer and admins."""
    user_id = require_authenticated(viewer)
    refund = session.get(Refund, parse_uuid(id, error=RefundNotFound, what="refund"))
    if refund is None or not (viewer.is_admin or refund.user_id == user_id):
        raise RefundNotFound("refund not found", code="REFUND_NOT_FOUND")
    return refund


def refunds_of(session: Session, _viewer: Viewer, payment_ids: list[uuid.UUID]):
    """Batch read for `Payment.refunds` (the payment was already authorized)."""
    rows = session.scalars(
        select(Refund).where(Refund.payment_id.in_(payment_ids)).order_by(Refund.created_at)
    )
    found: dict[uuid.UUID, list[Refund]] = {key: [] for key in payment_ids}
    for row in rows:
        found[row.payment_id].append(row)
    return [found[key] for key in payment_ids]


# A request whose Stripe call never happened or never answered (the API process died, the
# line dropped) leaves a PENDING refund without Stripe's id; after this long it is resent.
RESEND_AFTER = timedelta(minutes=2)


def resend_unanswered(settings: PaymentSettings | None = None) -> int:
    """Send again every refund whose request got no answer from Stripe; the idempotency key
    is our refund id, so one Stripe made already is answered, never made twice."""
    settings = settings or payment_settings()
    with session_scope() as session:
        rows = session.execute(
            select(Refund.id, Refund.amount, Payment.stripe_payment_intent_id)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Refund.status == RefundStatus.PENDING,
                Refund.stripe_refund_id.is_(None),
                Refund.created_at < utcnow() - RESEND_AFTER,
            )
            .order_by(Refund.created_at)
            .limit(500)
        ).all()
    resent = 0
    for row in rows:
        order = RefundOrder(row.id, row.stripe_payment_intent_id, row.amount)
        try:
            answer = send_refund(order, settings)
        except PaymentProviderError as error:
            with session_scope() as session:
                refund_refused(session, None, refund_id=row.id, reason=str(error))
            continue
        with session_scope() as session:
            apply_refund(session, answer)
        resent += 1
    return resent
