"""Checkout: a Payment row first, then a Stripe Checkout Session for it.

Three steps so no transaction stays open across a network call: `begin_checkout` validates
and records (or reuses) the pending payment; `open_stripe_session` asks Stripe, keyed by the
payment id so a repeat returns the same session; `attach_session` stores its id and URL.
The price always comes from the course row: the client can only say what it expects to pay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.courses import service as courses
from lms.errors import Conflict, NotFound, ValidationFailed
from lms.models import utcnow
from lms.payments import gateway
from lms.payments.access import parse_uuid
from lms.payments.errors import PaymentsNotConfigured
from lms.payments.models import Payment, PaymentKind, PaymentStatus
from lms.payments.settings import PaymentSettings, payment_settings
from lms.security import Viewer, require_authenticated
from lms.users import service as users


@dataclass(frozen=True)
class CheckoutPlan:
    payment_id: uuid.UUID
    user_email: str
    course_title: str
    amount: int
    currency: str
    success_url: str
    cancel_url: str
    session_id: str | None  # set when an open session can be reused as is


@dataclass(frozen=True)
class CheckoutView:
    payment_id: uuid.UUID
    session_id: str
    url: str
    amount: int
    currency: str
    expires_at: datetime | None


def _return_url(value: str | None, default: str, field: str) -> str:
    """Only our own front end may be the return address (no open redirect via Stripe)."""
    if not value:
        return default
    settings = get_settings()
    allowed = [settings.app_url or settings.public_url, *settings.cors_origins]
    if not any(value == base or value.startswith(base.rstrip("/") + "/") for base in allowed):
        raise ValidationFailed(
            "the return address must be on this site's front end",
            code="INVALID_RETURN_URL",
            field=field,
        )
    return value


def _check_eligible(session: Session, viewer: Viewer, course) -> None:
    """Every enrolment rule but payment must hold before anyone is asked to pay."""
    from lms.enrollments import service as enrollments

    result = enrollments.check_enrollment_eligibility(
        session, viewer, student_id=viewer.user_id, course_id=course.id
    )
    blocking = [r for r in result.reasons if r.code != "PAYMENT_REQUIRED"]
    if blocking:
        raise Conflict(blocking[0].message, code=blocking[0].code)


def begin_checkout(
    session: Session,
    viewer: Viewer,
    *,
    input: dict[str, Any],
    settings: PaymentSettings | None = None,
) -> CheckoutPlan:
    """Validate a purchase of a course and record its pending payment (or reuse an open one)."""
    user_id = require_authenticated(viewer)
    settings = settings or payment_settings()
    course = courses.find_course(
        session, parse_uuid(input.get("course_id"), error=NotFound, what="course")
    )
    if course.price_amount <= 0:
        raise Conflict("this course is free: enroll directly", code="COURSE_IS_FREE")
    if not settings.configured:
        raise PaymentsNotConfigured(
            "paid courses cannot be bought on this server: payments are not configured",
            code="PAYMENTS_NOT_CONFIGURED",
        )
    currency = course.currency.upper()
    wanted = input.get("currency")
    if wanted is not None and wanted.upper() != currency:
        raise ValidationFailed(
            f"this course is sold in {currency}, not {wanted.upper()}",
            code="CURRENCY_MISMATCH",
            field="currency",
            currency=currency,
        )
    if currency not in {c.upper() for c in settings.currencies}:
        raise ValidationFailed(
            f"{currency} is not a currency this site sells in", code="CURRENCY_NOT_SUPPORTED"
        )
    expected = input.get("expected_amount")
    if expected is not None and expected != course.price_amount:
        raise ValidationFailed(
            "the price shown differs from the course's price; reload and try again",
            code="PRICE_MISMATCH",
            field="expectedAmount",
            amount=course.price_amount,
            currency=currency,
        )
    _check_eligible(session, viewer, course)
    base = (get_settings().app_url or get_settings().public_url).rstrip("/")
    success = _return_url(
        input.get("success_url"),
        settings.success_url or f"{base}/payments/success",
        "successUrl",
    )
    cancel = _return_url(
        input.get("cancel_url"), settings.cancel_url or f"{base}/payments/cancel", "cancelUrl"
    )
    email = users.email_of(session, user_id)
    # One open checkout per buyer, course and price: clicking "buy" twice pays once.
    payment = session.scalar(
        select(Payment)
        .where(
            Payment.user_id == user_id,
            Payment.course_id == course.id,
            Payment.kind == PaymentKind.COURSE,
            Payment.status == PaymentStatus.PENDING,
            Payment.amount == course.price_amount,
            Payment.currency == currency,
        )
        .order_by(Payment.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    if (
        payment is not None
        and payment.checkout_expires_at
        and payment.checkout_expires_at < utcnow()
    ):
        payment.status, payment.updated_at = PaymentStatus.EXPIRED, utcnow()
        payment = None
    if payment is None:
        payment = Payment(
            kind=PaymentKind.COURSE,
            user_id=user_id,
            course_id=course.id,
            amount=course.price_amount,
            currency=currency,
            status=PaymentStatus.PENDING,
            description=course.title[:300],
        )
        session.add(payment)
        session.flush()
    return CheckoutPlan(
        payment.id,
        email or "",
        course.title,
        payment.amount,
        payment.currency,
        success,
        cancel,
        payment.stripe_checkout_session_id if payment.checkout_url else None,
    )


def open_stripe_session(plan: CheckoutPlan, settings: PaymentSettings | None = None) -> dict:
    """Create (or, by idempotency key, get back) the Stripe Checkout Session of a payment."""
    stripe = gateway.client(settings)
    metadata = {"payment_id": str(plan.payment_id)}
    if plan.session_id:
        found = gateway.call(stripe.v1.checkout.sessions.retrieve, plan.session_id)
        return gateway.plain(found)
    params = {
        "mode": "payment",
        "client_reference_id": str(plan.payment_id),
        "customer_email": plan.user_email or None,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": plan.currency.lower(),
                    "unit_amount": plan.amount,
                    "product_data": {"name": plan.course_title[:250]},
                },
            }
        ],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": plan.success_url + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": plan.cancel_url,
    }
    params = {key: value for key, value in params.items() if value is not None}
    created = gateway.call(
        stripe.v1.checkout.sessions.create, params, key=f"checkout-{plan.payment_id}"
    )
    return gateway.plain(created)


def _moment(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def attach_session(
    session: Session, viewer: Viewer, *, payment_id: uuid.UUID, stripe_session: dict
):
    """Store the session's id and URL on its payment; answer the checkout to complete."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment.stripe_checkout_session_id in (None, stripe_session["id"]):
        payment.stripe_checkout_session_id = stripe_session["id"]
        payment.checkout_url = stripe_session.get("url")
        payment.checkout_expires_at = _moment(stripe_session.get("expires_at"))
        payment.updated_at = utcnow()
    return CheckoutView(
        payment.id,
        payment.stripe_checkout_session_id,
        payment.checkout_url or "",
        payment.amount,
        payment.currency,
        payment.checkout_expires_at,
    )
